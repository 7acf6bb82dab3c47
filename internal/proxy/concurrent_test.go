package proxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/h1"
)

// TestConcurrentExchanges runs many clients at once through the real
// server and handler (run with -race): small and streamed bodies, chunked
// uploads, gateway errors and pooled node connections shared between
// requests. Every client must get exactly its own answer.
func TestConcurrentExchanges(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(400)
			return
		}
		w.Header().Set("X-Echo-Id", r.Header.Get("X-Client"))
		fmt.Fprintf(w, "%s %s %d:", r.Method, r.URL.RequestURI(), len(body))
		w.Write(body)
	}))
	defer be.Close()
	p := newProxy(t, []config.Channel{channel(t, "ch-1", node(t, be.URL, 1))},
		api(t, "a1", "ANY", "/echo", config.Backend{Type: "channel", ChannelID: "ch-1", Path: "/e"}),
		api(t, "a2", "GET", "/mock", config.Backend{Type: "mock", Mock: &config.Mock{Body: "mocked"}}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &h1.Server{Handler: p, ReadTimeout: 10 * time.Second, IdleTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	base := "http://" + ln.Addr().String()
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}

	const workers, each = 16, 24
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := fmt.Sprintf("c%d-%d", w, i)
				var (
					req  *http.Request
					want string
				)
				switch i % 4 {
				case 0:
					req, _ = http.NewRequest("GET", base+"/echo/"+id, nil)
					want = "GET /e/" + id + " 0:"
				case 1:
					body := strings.Repeat(id, 1+i*50) // up to ~16 KiB
					req, _ = http.NewRequest("POST", base+"/echo?x="+id, strings.NewReader(body))
					want = fmt.Sprintf("POST /e?x=%s %d:%s", id, len(body), body)
				case 2:
					body := bytes.Repeat([]byte(id), 20000) // streamed, over the replay size
					req, _ = http.NewRequest("PUT", base+"/echo", io.NopCloser(bytes.NewReader(body)))
					req.ContentLength = -1 // chunked
					want = fmt.Sprintf("PUT /e %d:%s", len(body), body)
				case 3:
					req, _ = http.NewRequest("GET", base+"/mock", nil)
					want = "mocked"
				}
				req.Header.Set("X-Client", id)
				resp, err := client.Do(req)
				if err != nil {
					errs <- fmt.Errorf("%s: %v", id, err)
					continue
				}
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(got) != want {
					errs <- fmt.Errorf("%s: got %.80q (%v), want %.80q", id, got, err, want)
					continue
				}
				if i%4 != 3 && resp.Header.Get("X-Echo-Id") != id {
					errs <- fmt.Errorf("%s: answer meant for %q", id, resp.Header.Get("X-Echo-Id"))
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 10 {
			t.Error(err)
		}
	}
	if n > 0 {
		t.Fatalf("%d of %d exchanges failed", n, workers*each)
	}
}
