//go:build unix

package sqlite

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
)

// crashDirEnv tells the test binary, re-executed by TestKillAfterWrite, to
// act as the process that is killed.
const crashDirEnv = "PORTICO_SQLITE_CRASH_DIR"

const crashWrites = 20

// TestKillAfterWrite kills a process with SIGKILL right after its writes
// returned, without closing the store (so the WAL is not checkpointed), and
// checks that every write is there when the store is opened again.
func TestKillAfterWrite(t *testing.T) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		crashChild(dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillAfterWrite$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var ids []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if line := sc.Text(); len(line) > 3 && line[:3] == "ch-" {
			ids = append(ids, line)
		}
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL: %v", err)
	}
	if len(ids) != crashWrites {
		t.Fatalf("child reported %d writes, want %d", len(ids), crashWrites)
	}

	s := openT(t, dir)
	ctx := context.Background()
	for _, id := range ids {
		if _, err := s.GetChannel(ctx, id); err != nil {
			t.Fatalf("write acknowledged before the kill is lost: %v", err)
		}
	}
	if rev, _ := s.Revision(ctx); rev != crashWrites {
		t.Fatalf("revision %d after reopening, want %d", rev, crashWrites)
	}
}

// crashChild writes, reports each acknowledged write, and kills itself.
func crashChild(dir string) {
	ctx := context.Background()
	s, err := Open(ctx, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for i := 0; i < crashWrites; i++ {
		c := channel("c" + strconv.Itoa(i))
		if err := s.CreateChannel(ctx, c); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Println(c.ID)
	}
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is on its way
}
