package main

import (
	"runtime/debug"
	"testing"
)

func TestDescribeBuild(t *testing.T) {
	bi := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "3105d8be0e0a5f1e2d3c4b5a69788796a5b4c3d2"},
		{Key: "vcs.time", Value: "2026-11-30T13:32:30Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	for _, c := range []struct {
		v    string
		bi   *debug.BuildInfo
		ok   bool
		want string
	}{
		{"", bi, true, "dev (revision 3105d8be0e0a, 2026-11-30T13:32:30.000Z, modified)"},
		{"v1.2.3", bi, true, "v1.2.3 (revision 3105d8be0e0a, 2026-11-30T13:32:30.000Z, modified)"},
		{"", &debug.BuildInfo{Main: debug.Module{Version: "v0.4.0"}}, true, "v0.4.0"},
		{"", nil, false, "dev"},
	} {
		if got := describeBuild(c.v, c.bi, c.ok); got != c.want {
			t.Errorf("describeBuild(%q) = %q, want %q", c.v, got, c.want)
		}
	}
}
