package config

import (
	"encoding/json"
	"testing"
	"time"
)

func TestTimeJSONHasFixedMilliseconds(t *testing.T) {
	east := time.FixedZone("UTC+8", 8*3600)
	for _, c := range []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 11, 30, 15, 4, 5, 0, time.UTC), `"2026-11-30T15:04:05.000Z"`},
		{time.Date(2026, 11, 30, 15, 4, 5, 120_000_000, time.UTC), `"2026-11-30T15:04:05.120Z"`},
		{time.Date(2026, 11, 30, 15, 4, 5, 999_999_999, time.UTC), `"2026-11-30T15:04:05.999Z"`},
		// Another zone is shown in UTC.
		{time.Date(2026, 11, 30, 23, 4, 5, 7_000_000, east), `"2026-11-30T15:04:05.007Z"`},
		{time.Time{}, `"0001-01-01T00:00:00.000Z"`},
	} {
		b, err := json.Marshal(Time{c.in})
		if err != nil || string(b) != c.want {
			t.Errorf("marshal %v = %s, %v; want %s", c.in, b, err, c.want)
		}
	}
	if _, err := json.Marshal(Time{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}); err == nil {
		t.Error("a year past 9999 was marshalled; RFC 3339 cannot say it")
	}
}

func TestTimeUnmarshalTakesAnyRFC3339(t *testing.T) {
	want := time.Date(2026, 11, 30, 15, 4, 5, 120_000_000, time.UTC)
	for _, in := range []string{
		`"2026-11-30T15:04:05.12Z"`,
		`"2026-11-30T15:04:05.120000Z"`,
		`"2026-11-30T23:04:05.12+08:00"`,
	} {
		var got Time
		if err := json.Unmarshal([]byte(in), &got); err != nil || !got.Equal(want) {
			t.Errorf("unmarshal %s = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{`"30 Nov 2026"`, `12`, `"2026-11-30"`, `"`} {
		var got Time
		if err := json.Unmarshal([]byte(bad), &got); err == nil {
			t.Errorf("unmarshal %s: no error", bad)
		}
	}
	var keep = At(want)
	if err := json.Unmarshal([]byte(`null`), &keep); err != nil || !keep.Equal(want) {
		t.Errorf("null changed the time: %v, %v", keep, err)
	}
}

func TestAtTruncatesToTheShownInstant(t *testing.T) {
	in := time.Date(2026, 11, 30, 15, 4, 5, 120_999_999, time.FixedZone("x", 3600))
	got := At(in)
	if got.Location() != time.UTC || got.Nanosecond() != 120_000_000 {
		t.Fatalf("At(%v) = %v", in, got)
	}
	var back Time
	b, _ := json.Marshal(got)
	if err := json.Unmarshal(b, &back); err != nil || !back.Equal(got.Time) {
		t.Fatalf("round trip %v -> %s -> %v (%v)", got, b, back, err)
	}
}

func FuzzTimeRoundTrip(f *testing.F) {
	f.Add(`"2026-11-30T15:04:05.12Z"`)
	f.Add(`"0001-01-01T00:00:00Z"`)
	f.Add(`"2026-11-30T23:04:05+08:00"`)
	f.Fuzz(func(t *testing.T, in string) {
		var v Time
		if err := json.Unmarshal([]byte(in), &v); err != nil {
			return
		}
		b, err := json.Marshal(At(v.Time))
		if err != nil {
			return // a year RFC 3339 cannot write
		}
		var back Time
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s: own output %s does not parse: %v", in, b, err)
		}
		if !back.Equal(At(v.Time).Time) || len(b) != len(`"2026-11-30T15:04:05.000Z"`) {
			t.Fatalf("%s -> %s -> %v", in, b, back)
		}
	})
}
