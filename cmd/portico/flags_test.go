package main

import (
	"reflect"
	"testing"
)

func TestFlagsDefaultsEnvAndCommandLine(t *testing.T) {
	env := map[string]string{
		"PORTICO_PROXY_ADDR": "127.0.0.1:1111",
		"PORTICO_NETWORKS":   "vpc-prod, idc-sh",
		"PORTICO_MAX_BODY":   "1MiB",
	}
	c, err := parseServeFlags([]string{"--proxy-addr", "127.0.0.1:2222"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.ProxyAddr != "127.0.0.1:2222" {
		t.Errorf("command line must win over the variable: %q", c.ProxyAddr)
	}
	if !reflect.DeepEqual(c.Networks, []string{"vpc-prod", "idc-sh"}) {
		t.Errorf("networks from the variable: %q", c.Networks)
	}
	if c.MaxBody != 1<<20 {
		t.Errorf("max body %d", c.MaxBody)
	}
	if c.AdminAddr != "127.0.0.1:9180" || c.DataDir != "./portico-data" || c.AccessLog != "stdout" {
		t.Errorf("defaults: %+v", c)
	}
}

func TestFlagsErrors(t *testing.T) {
	none := func(string) string { return "" }
	for _, args := range [][]string{
		{"--max-body", "lots"},
		{"--networks", " , "},
		{"--no-such-flag"},
		{"--read-timeout", "0s"},
		{"--idle-timeout", "soon"},
		{"--drain-timeout", "-1s"},
		{"extra"},
		{"--log-buffer", "-1"},
		{"--otlp-endpoint", "collector:4318"},
		{"--otlp-endpoint", "http://c:4318/v1/traces"},
	} {
		if _, err := parseServeFlags(args, none); err == nil {
			t.Errorf("%q: want an error", args)
		}
	}
	if _, err := parseServeFlags(nil, func(k string) string {
		if k == "PORTICO_MAX_BODY" {
			return "-1"
		}
		return ""
	}); err == nil {
		t.Error("a bad PORTICO_MAX_BODY must be an error")
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"16MiB": 16 << 20, "512KiB": 512 << 10, "1GiB": 1 << 30, "10MB": 10_000_000,
		"1048576": 1 << 20, "2M": 2 << 20, " 3 KiB ": 3 << 10, "7B": 7,
	} {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-5MiB", "MiB", "1.5MiB", "99999999999999999GiB", "5TiB"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q): want an error", in)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"16MiB", "1", "0", "-1", "1GB", "9223372036854775807", "4611686018427387904B"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize(s)
		if err == nil && n < 1 {
			t.Fatalf("parseSize(%q) = %d without error", s, n)
		}
	})
}
