package e2e

// The parts of TestDocs that read the docs and compare outputs; docs_test.go
// states the convention they implement.

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// docBlock is one fenced block of a doc.
type docBlock struct {
	file  string
	line  int    // the line of the opening fence
	lang  string // the first word of the info string
	run   bool   // an sh block without no-run
	body  []string
	steps []docStep
}

// docStep is code whose output is compared with what the doc shows.
type docStep struct {
	file     string
	line     int // the first code line
	code     string
	expected []string // the expected output, without the "# "; nil when not shown
	expLine  int      // where the expected output starts
}

// stepResult is what one step printed and its exit status.
type stepResult struct {
	output string
	exit   int
}

var heredocRe = regexp.MustCompile(`<<-?\s*['"]?([A-Za-z_][A-Za-z0-9_]*)['"]?`)

// parseDocBlocks reads the fenced blocks of a Markdown file and splits its
// sh blocks into steps.
func parseDocBlocks(file, text string) ([]docBlock, error) {
	lines := strings.Split(text, "\n")
	var blocks []docBlock
	for i := 0; i < len(lines); i++ {
		trimmed := strings.TrimLeft(lines[i], " ")
		if !strings.HasPrefix(trimmed, "```") {
			continue
		}
		indent := len(lines[i]) - len(trimmed)
		info := strings.TrimSpace(strings.TrimPrefix(trimmed, "```"))
		b := docBlock{file: file, line: i + 1}
		b.lang, _, _ = strings.Cut(info, " ")
		j := i + 1
		for ; j < len(lines); j++ {
			if strings.TrimSpace(lines[j]) == "```" {
				break
			}
			l := lines[j]
			if len(l) >= indent && strings.TrimSpace(l[:indent]) == "" {
				l = l[indent:]
			}
			b.body = append(b.body, l)
		}
		if j == len(lines) {
			return nil, fmt.Errorf("%s:%d: the block is not closed", file, b.line)
		}
		if b.lang == "sh" {
			rest := strings.TrimSpace(strings.TrimPrefix(info, "sh"))
			switch {
			case rest == "":
				b.run = true
			case strings.HasPrefix(rest, "no-run:") && strings.TrimSpace(strings.TrimPrefix(rest, "no-run:")) != "":
			default:
				return nil, fmt.Errorf("%s:%d: info string %q: an sh block is either ```sh or ```sh no-run: <why it cannot run>", file, b.line, info)
			}
		}
		if b.run {
			b.steps = splitSteps(file, i+2, b.body)
		}
		blocks = append(blocks, b)
		i = j
	}
	// A json block right after a runnable sh block is the output of its last
	// step.
	for k := 0; k+1 < len(blocks); k++ {
		b, next := &blocks[k], blocks[k+1]
		if !b.run || next.lang != "json" || !onlyBlankBetween(lines, b, next) {
			continue
		}
		last := len(b.steps) - 1
		if last < 0 || b.steps[last].expected != nil {
			return nil, fmt.Errorf("%s:%d: the json block after this sh block would be its output, but the block ends with output already", file, next.line)
		}
		b.steps[last].expected = trimLines(next.body)
		b.steps[last].expLine = next.line + 1
	}
	return blocks, nil
}

// onlyBlankBetween tells whether only blank lines separate the end of b from
// the fence of next.
func onlyBlankBetween(lines []string, b *docBlock, next docBlock) bool {
	end := b.line + len(b.body) + 1 // the closing fence, 1-based
	for n := end + 1; n < next.line; n++ {
		if strings.TrimSpace(lines[n-1]) != "" {
			return false
		}
	}
	return true
}

// splitSteps cuts an sh block's body into steps; first is the line number of
// body[0].
func splitSteps(file string, first int, body []string) []docStep {
	var steps []docStep
	var code []string
	codeLine := 0     // the first code line of the current step
	prevCode := false // the previous line is a command line
	heredoc := ""     // the terminator of the heredoc being read
	flush := func(expected []string, expLine int) {
		if codeLine != 0 {
			steps = append(steps, docStep{file: file, line: codeLine, code: strings.Join(code, "\n") + "\n", expected: expected, expLine: expLine})
		}
		code, codeLine, prevCode = nil, 0, false
	}
	for i := 0; i < len(body); i++ {
		line := body[i]
		trimmed := strings.TrimSpace(line)
		if heredoc != "" {
			code = append(code, line)
			if trimmed == heredoc {
				heredoc = ""
			}
			continue
		}
		if strings.HasPrefix(trimmed, "#") && prevCode {
			expLine := first + i
			var expected []string
			for ; i < len(body) && strings.HasPrefix(strings.TrimSpace(body[i]), "#"); i++ {
				l := strings.TrimPrefix(strings.TrimSpace(body[i]), "#")
				expected = append(expected, strings.TrimPrefix(l, " "))
			}
			i--
			flush(expected, expLine)
			continue
		}
		code = append(code, line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			prevCode = false
			continue
		}
		if codeLine == 0 {
			codeLine = first + i
		}
		prevCode = true
		if m := heredocRe.FindStringSubmatch(line); m != nil {
			heredoc = m[1]
		}
	}
	flush(nil, 0)
	return steps
}

// splitStepOutput cuts the output of a file's script at the markers printed
// after each step.
func splitStepOutput(out, marker string) map[int]stepResult {
	results := make(map[int]stepResult)
	rest := out
	for {
		idx := strings.Index(rest, "\n"+marker+" ")
		if idx < 0 {
			return results
		}
		seg := rest[:idx]
		after := rest[idx+len(marker)+2:]
		head, tailText, ok := strings.Cut(after, "@@\n")
		if !ok {
			return results
		}
		var n, rc int
		if _, err := fmt.Sscanf(head, "%d %d", &n, &rc); err != nil {
			return results
		}
		results[n] = stepResult{output: seg, exit: rc}
		rest = tailText
	}
}

var adminErrorRe = regexp.MustCompile(`\{"error":\{"code":`)

// checkStep compares a step's result with the doc and says what differs.
func checkStep(s docStep, r stepResult) string {
	if s.expected == nil {
		if r.exit != 0 {
			return fmt.Sprintf("exit status %d; a step whose output the doc does not show must succeed", r.exit)
		}
		if adminErrorRe.MatchString(r.output) {
			return "the step answers an error that the doc does not show"
		}
		return ""
	}
	return compareOutput(strings.Join(s.expected, "\n"), r.output)
}

// Values that differ from run to run, masked on both sides.
var docMasks = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`\b[0-9a-f]{16}-[0-9a-f]{16}\b`), "<request-id>"},
	{regexp.MustCompile(`\b(ch|svc|api|key|plan|pnb|app|ab|plg|pb|cert|node)-[0-9a-f]{16}\b`), "${1}-<id>"},
	{regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})`), "<time>"},
	{regexp.MustCompile(`(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT`), "<http-date>"},
	{regexp.MustCompile(`("revision":)\d+`), "${1}<n>"},
	{regexp.MustCompile(`(?i)(portico-revision:\s*)\d+`), "${1}<n>"},
	{regexp.MustCompile(`(\brevision )\d+\b`), "${1}<n>"},
	{regexp.MustCompile(`("(?:avg_latency_ms|p99_latency_ms|request_time|upstream_connect_time|upstream_header_time|upstream_response_time)":)[0-9.eE+-]+`), "${1}<n>"},
}

func maskDoc(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	for _, m := range docMasks {
		s = m.re.ReplaceAllString(s, m.repl)
	}
	return s
}

// compareOutput says how actual differs from expected, or "" when it
// matches.
func compareOutput(expected, actual string) string {
	expected, actual = maskDoc(expected), maskDoc(actual)
	if strings.HasPrefix(strings.TrimSpace(expected), "HTTP/") {
		return compareHTTP(expected, actual)
	}
	if !matchText(expected, actual) {
		return "the output differs from the doc"
	}
	return ""
}

var headerLineRe = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9-]*):\s*(.*)$`)

// compareHTTP compares curl -i output: the status line, each header shown,
// and the body when shown.
func compareHTTP(expected, actual string) string {
	expLines := trimLines(strings.Split(strings.TrimSpace(expected), "\n"))
	head, body, _ := strings.Cut(strings.TrimLeft(actual, "\n"), "\n\n")
	actLines := trimLines(strings.Split(head, "\n"))
	if !matchText(expLines[0], actLines[0]) {
		return fmt.Sprintf("status line %q, the doc shows %q", actLines[0], expLines[0])
	}
	i := 1
	for ; i < len(expLines); i++ {
		m := headerLineRe.FindStringSubmatch(expLines[i])
		if m == nil {
			break
		}
		found := false
		for _, a := range actLines[1:] {
			am := headerLineRe.FindStringSubmatch(a)
			if am != nil && strings.EqualFold(am[1], m[1]) && matchText(m[2], am[2]) {
				found = true
				break
			}
		}
		if !found {
			return fmt.Sprintf("the answer has no header %q", expLines[i])
		}
	}
	expBody := strings.TrimSpace(strings.Join(expLines[i:], "\n"))
	if expBody != "" && !matchText(expBody, body) {
		return "the body differs from the doc"
	}
	return ""
}

// matchText matches actual against expected, where "…" matches anything.
// JSON (expected starting with { or [) is compared without the whitespace
// outside strings; other text line by line without trailing spaces.
func matchText(expected, actual string) bool {
	expected, actual = strings.TrimSpace(expected), strings.TrimSpace(actual)
	if strings.HasPrefix(expected, "{") || strings.HasPrefix(expected, "[") {
		expected, actual = squeezeJSON(expected), squeezeJSON(actual)
	} else {
		expected = strings.Join(trimLines(strings.Split(expected, "\n")), "\n")
		actual = strings.Join(trimLines(strings.Split(actual, "\n")), "\n")
	}
	return wildcardRegexp(expected).MatchString(actual)
}

func wildcardRegexp(expected string) *regexp.Regexp {
	parts := strings.Split(expected, "…")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile(`^(?s:` + strings.Join(parts, `.*?`) + `)$`)
}

// squeezeJSON drops the whitespace outside JSON strings.
func squeezeJSON(s string) string {
	var b strings.Builder
	inString, escaped := false, false
	for _, r := range s {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case r == '\\':
				escaped = true
			case r == '"':
				inString = false
			}
		case r == '"':
			inString = true
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func trimLines(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = strings.TrimRight(l, " \t\r")
	}
	return out
}

// docStepsCount counts the steps of the runnable blocks, how many of them
// compare an output, and the sh blocks marked no-run.
func docStepsCount(blocks []docBlock) (steps, compared, noRun int) {
	for _, b := range blocks {
		if b.lang == "sh" && !b.run {
			noRun++
		}
		for _, s := range b.steps {
			steps++
			if s.expected != nil {
				compared++
			}
		}
	}
	return steps, compared, noRun
}

// TestDocsCompare pins the comparison rules, the strictness included: a doc
// that shows a 409 where the server answers 204 must fail.
func TestDocsCompare(t *testing.T) {
	for _, c := range []struct {
		expected, actual string
		match            bool
	}{
		// ids, times and revisions are masked; "…" matches anything
		{`{"id":"ch-bf6895c1bf63d175","created_at":"2026-11-27T07:51:55.079Z"}`, `{"id":"ch-0123456789abcdef","created_at":"2026-11-30T15:03:04.8191Z"}`, true},
		{`{"id":"svc-…","name":"orders",…}`, `{"id":"svc-0123456789abcdef","name":"orders","description":""}`, true},
		{`{"id":"svc-…","name":"orders",…}`, `{"id":"svc-0123456789abcdef","name":"shop","description":""}`, false},
		{`Portico-Revision: 43`, `Portico-Revision: 7`, true},
		// JSON wrapped over lines, or pretty-printed by jq
		{"{\"a\":1,\n \"b\":[1, 2]}", `{"a":1,"b":[1,2]}`, true},
		{`{"a":"x y"}`, `{"a":"xy"}`, false},
		{`{"a":1}`, "{\n  \"a\": 1\n}", true},
		// curl -i: status line, the headers shown, the body when shown
		{"HTTP/1.1 204 No Content", "HTTP/1.1 204 No Content\r\nContent-Type: application/json\r\nDate: Mon, 30 Nov 2026 15:03:07 GMT\r\n\r\n", true},
		{"HTTP/1.1 409 Conflict\nContent-Type: application/json\n\n{\"error\":{\"code\":\"Conflict\",…}}", "HTTP/1.1 204 No Content\r\nContent-Type: application/json\r\n\r\n", false},
		{"HTTP/1.1 200 OK\nAllow: GET", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nok", false},
		{"HTTP/1.1 200 OK\n\nok", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nnot ok", false},
		// a 409 shown where nothing (a 204) is printed
		{`{"error":{"code":"Conflict","message":"…"}}`, "", false},
		// plain text, line by line
		{"+ channel orders_pool\n…\n5 changes made", "+ channel orders_pool\n+ key partner_a\n5 changes made\n", true},
		{"pong", "pong\n", true},
		{"pong", "HTTP/1.1 426 Upgrade Required", false},
	} {
		got := compareOutput(c.expected, c.actual) == ""
		if got != c.match {
			t.Errorf("compareOutput(%q, %q) matched %v, want %v (%s)", c.expected, c.actual, got, c.match, compareOutput(c.expected, c.actual))
		}
	}

	doc := "```sh\n# prose\ncurl -s $A\n# {\"x\":1}\n\nV=$(echo 1)\necho $V\n# 1\ntrue\n```\n\n```json\n{\"y\":2}\n```\n\n```sh no-run: a server in the foreground\nportico serve\n```\n"
	blocks, err := parseDocBlocks("doc.md", doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 3 || !blocks[0].run || blocks[2].run {
		t.Fatalf("blocks %+v", blocks)
	}
	steps := blocks[0].steps
	if len(steps) != 3 || steps[0].line != 3 || strings.Join(steps[0].expected, "\n") != `{"x":1}` ||
		strings.Join(steps[1].expected, "\n") != "1" || strings.Join(steps[2].expected, "\n") != `{"y":2}` {
		t.Errorf("steps %+v", steps)
	}
	if _, err := parseDocBlocks("doc.md", "```sh no-run\nx\n```\n"); err == nil {
		t.Error("a no-run block without a reason was accepted")
	}
}
