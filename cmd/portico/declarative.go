package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/portico-gw/portico/internal/declarative"
)

// errChanges is diff's answer when something would change (exit 1).
var errChanges = errors.New("changes pending")

// clientFlags are the flags every thin client of the admin API takes.
type clientFlags struct {
	adminURL, token string
}

func (c *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.adminURL, "admin-url", envOr("PORTICO_ADMIN_URL", "http://127.0.0.1:9180"), "the gateway's admin address")
	fs.StringVar(&c.token, "token", os.Getenv("PORTICO_ADMIN_TOKEN"), "the admin token (default: $PORTICO_ADMIN_TOKEN, else ./portico-data/admin.token)")
}

func (c *clientFlags) bearer() (string, error) {
	if c.token != "" {
		return c.token, nil
	}
	b, err := os.ReadFile(filepath.Join("portico-data", "admin.token"))
	if err != nil {
		return "", fmt.Errorf("no admin token: pass --token, set PORTICO_ADMIN_TOKEN, or run from the directory holding portico-data/admin.token (%v)", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// call sends one request to the admin API and returns the body of a 2xx,
// or the API's error message.
func (c *clientFlags) call(method, path string, body []byte, accept string) ([]byte, error) {
	tok, err := c.bearer()
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(method, strings.TrimSuffix(c.adminURL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("--admin-url=%s: %v", c.adminURL, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Minute}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("the admin API at %s: %v", c.adminURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 {
		return b, nil
	}
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
		return nil, fmt.Errorf("%s (HTTP %d)", e.Error.Message, resp.StatusCode)
	}
	return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(b))
}

// exportCommand: portico export [-o FILE] [--format yaml|json] [--placeholders].
func exportCommand(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var c clientFlags
	c.register(fs)
	out := fs.String("o", "", "write to this file instead of standard output")
	format := fs.String("format", "yaml", "yaml or json")
	placeholders := fs.Bool("placeholders", false, "write secrets as ${VAR} placeholders instead of their values")
	if err := parseClientFlags(fs, args, "portico export [-o FILE] [--format yaml|json] [--placeholders] [--admin-url URL] [--token TOKEN]", stdout); err != nil {
		return err
	}
	f, err := declarative.ParseFormat(*format)
	if err != nil {
		return usageError("--format=" + *format + ": " + err.Error())
	}
	q := url.Values{"format": {string(f)}}
	if *placeholders {
		q.Set("secrets", "placeholders")
	}
	b, err := c.call(http.MethodGet, "/api/v1/config?"+q.Encode(), nil, "")
	if err != nil {
		return err
	}
	if *out == "" {
		_, err = stdout.Write(b)
		return err
	}
	return writeFileAtomic(*out, b, 0o600)
}

// applyCommand: portico apply -f FILE [--prune] [--dry-run], and with
// diff true, portico diff -f FILE [--prune] (exit 1 when something would
// change).
func applyCommand(args []string, stdout io.Writer, diff bool) error {
	name := "apply"
	if diff {
		name = "diff"
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var c clientFlags
	c.register(fs)
	file := fs.String("f", "", "the document (YAML or JSON); - for standard input")
	prune := fs.Bool("prune", false, "also delete what the document does not name")
	dry := diff
	if !diff {
		fs.BoolVar(&dry, "dry-run", false, "only print what would change")
	}
	if err := parseClientFlags(fs, args, "portico "+name+" -f FILE [--prune] [--dry-run] [--admin-url URL] [--token TOKEN]", stdout); err != nil {
		return err
	}
	if *file == "" {
		return usageError(name + " needs -f FILE")
	}
	var (
		data []byte
		err  error
		dir  = "."
	)
	if *file == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(*file)
		dir = filepath.Dir(*file)
	}
	if err != nil {
		return err
	}
	// Variables and certificate files are resolved here, where they are.
	doc, err := declarative.Parse(data, dir, os.LookupEnv)
	if err != nil {
		return fmt.Errorf("%s:\n%v", *file, err)
	}
	body, err := declarative.Marshal(doc, declarative.JSON)
	if err != nil {
		return err
	}
	q := url.Values{"prune": {fmt.Sprint(*prune)}, "dry_run": {fmt.Sprint(dry)}}
	b, err := c.call(http.MethodPut, "/api/v1/config?"+q.Encode(), body, "")
	if err != nil {
		return err
	}
	var res struct {
		Changes []declarative.Change `json:"changes"`
		Kept    []string             `json:"kept"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return fmt.Errorf("the admin API answered something else than a plan: %v", err)
	}
	for _, ch := range res.Changes {
		fmt.Fprintln(stdout, ch.Text)
	}
	for _, k := range res.Kept {
		fmt.Fprintln(stdout, "  kept (not in the document; --prune deletes it):", k)
	}
	switch {
	case len(res.Changes) == 0:
		fmt.Fprintln(stdout, "no changes: the gateway matches the document")
	case dry:
		fmt.Fprintf(stdout, "%d changes would be made\n", len(res.Changes))
	default:
		fmt.Fprintf(stdout, "%d changes made\n", len(res.Changes))
	}
	if diff && len(res.Changes) > 0 {
		return errChanges
	}
	return nil
}

func parseClientFlags(fs *flag.FlagSet, args []string, use string, stdout io.Writer) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, "usage:", use)
			return err
		}
		return usageError(flagError(fs, err).Error())
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	return nil
}
