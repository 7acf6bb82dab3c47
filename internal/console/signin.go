package console

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"strings"
	"time"
)

// signInData is the sign-in page's content.
type signInData struct {
	Error     string
	SignedOut bool
}

func (c *Console) signInPage(w http.ResponseWriter, r *http.Request) {
	q := c.newReq(w, r)
	if c.sessionOf(r) != nil {
		q.redirect("/console/channels")
		return
	}
	q.render(http.StatusOK, "signin", &page{D: signInData{SignedOut: r.URL.Query().Get("out") == "1"}})
}

// clientAddr is the address failures are counted by: the peer's IP.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// signIn checks the admin token and starts a session. A wrong token waits
// before its answer and counts against the client's address; past
// MaxFailures in FailureWindow the address cannot sign in until the
// window has passed.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	q := c.newReq(w, r)
	if !c.acceptPost(q, smallForm) {
		return
	}
	client := clientAddr(r)
	if c.limiter.blocked(client) {
		c.log.Warn("console sign-in refused: too many wrong tokens", "remote", r.RemoteAddr)
		q.render(http.StatusTooManyRequests, "signin", &page{D: signInData{Error: q.t("signin.blocked")}})
		return
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(r.PostForm.Get("token"))))
	if c.token == "" || subtle.ConstantTimeCompare(got[:], c.tokenSum[:]) != 1 {
		c.limiter.fail(client)
		c.log.Warn("console sign-in refused: wrong token", "remote", r.RemoteAddr)
		if c.delay > 0 {
			t := time.NewTimer(c.delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		q.render(http.StatusUnauthorized, "signin", &page{D: signInData{Error: q.t("signin.wrong")}})
		return
	}
	c.limiter.reset(client)
	// A new id at every sign-in: an id planted before it opens nothing.
	if old := c.sessionOf(r); old != nil {
		c.sessions.delete(old.key)
	}
	id, _ := c.sessions.create()
	http.SetCookie(w, c.sessionCookieFor(r, id))
	c.log.Info("console sign-in", "remote", r.RemoteAddr)
	q.redirect("/console/channels")
}

// signOut ends the session on the server (its cookie opens nothing
// afterwards) and clears the cookie.
func (c *Console) signOut(q *req) {
	q.c.sessions.delete(q.sess.key)
	ck := c.sessionCookieFor(q.r, "")
	ck.MaxAge = -1
	http.SetCookie(q.w, ck)
	c.log.Info("console sign-out", "remote", q.r.RemoteAddr)
	q.redirect("/console/signin?out=1")
}
