package declarative

import (
	"os"
	"sync"
	"testing"
)

// exampleEnv is the environment testdata/example.yaml reads its secrets
// from; exampleDoc fills in the certificate.
var (
	exampleEnv  = map[string]string{"PARTNER_A_SECRET": "partner-a-secret"}
	exampleOnce sync.Once
)

// exampleDoc returns the text of testdata/example.yaml.
func exampleDoc(t testing.TB) string {
	t.Helper()
	exampleOnce.Do(func() {
		exampleEnv["API_CERT_PEM"], exampleEnv["API_KEY_PEM"] = newCert(t, "api.example.com")
	})
	b, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
