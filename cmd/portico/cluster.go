package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/portico-gw/portico/internal/snapshot"
	"github.com/portico-gw/portico/internal/store"
)

// nodeIDFile keeps, in the data directory, the id a node shows in
// GET /api/v1/nodes, so that a restart is the same node.
const nodeIDFile = "node.id"

// heartbeatEnv shortens the heartbeat interval (a duration such as 500ms).
// It is meant for tests, which would otherwise wait 15 s for a node to be
// gone; every node of a cluster must use the same value.
const heartbeatEnv = "PORTICO_HEARTBEAT_INTERVAL"

// heartbeatInterval is store.HeartbeatInterval unless heartbeatEnv says
// otherwise.
func heartbeatInterval(getenv func(string) string) (time.Duration, error) {
	v := getenv(heartbeatEnv)
	if v == "" {
		return store.HeartbeatInterval, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 10*time.Millisecond {
		return 0, fmt.Errorf("%s must be a duration of at least 10ms such as 1s, got %q", heartbeatEnv, v)
	}
	return d, nil
}

// nodeID reads the node's id from the data directory, generating it on the
// first start.
func nodeID(dataDir string) (string, error) {
	path := filepath.Join(dataDir, nodeIDFile)
	b, err := os.ReadFile(path)
	if err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			return id, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("reading the node id: %w", err)
	}
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	id := "node-" + hex.EncodeToString(r[:])
	if err := writeFileAtomic(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("writing the node id: %w", err)
	}
	return id, nil
}

// heartbeats records the node in the store every interval, and at once
// whenever what it serves changes (a new revision, staleness), so that
// GET /api/v1/nodes shows a node in sync as soon as it is. It returns when
// ctx ends. A failure is logged when it starts and when it ends, not at
// every beat: the store being unreachable is logged by the data plane.
func heartbeats(ctx context.Context, c store.Cluster, info store.NodeInfo, snaps *snapshot.Manager,
	interval time.Duration, log *slog.Logger) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	failing := false
	for {
		changes := snaps.Changes()
		info.Revision = snaps.ServedRevision()
		_, info.Stale = snaps.Stale()
		hctx, cancel := context.WithTimeout(ctx, max(interval, time.Second))
		err := c.Heartbeat(hctx, info)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && !failing:
			failing = true
			log.Warn("the node's heartbeat could not be recorded; other nodes will show it gone until it is", "error", err)
		case err == nil && failing:
			failing = false
			log.Info("the node's heartbeat is recorded again")
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-changes:
		}
	}
}
