package main

import (
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// stdlibApp uses every module of the standard library from a handler, and tests one with
// the gate's fixed clock.
var stdlibApp = map[string]string{
	"app.star": `
def stamp(req):
    pw = password.hash("hunter2")
    sig = hmac.hexdigest("secret", "payload")
    log.info("stamped", user = "ann", attempt = 1)
    return {
        "now": time.now().unix_nano,
        "same": time.now() == time.now(),
        "day": day_label(time.now()),
        "uuid": uuid.v4(),
        "token": secrets.token_urlsafe(16),
        "sha": hashlib.sha256("abc"),
        "sig_ok": hmac.compare_digest(sig, hmac.hexdigest("secret", "payload")),
        "pw_ok": password.verify("hunter2", pw) and not password.verify("hunter3", pw),
        "b64": str(base64.decode(base64.encode("héllo", urlsafe = True), urlsafe = True)),
        "query": url.parse_qs(req.query.get("q", "")),
    }

def day_label(t):
    return t.format("2006-01-02")

routes = {"GET /stamp": stamp}
`,
	"app_test.star": `
load("app.star", "day_label")

def test_the_clock_of_tests_is_fixed():
    assert.eq(day_label(time.now()), "2000-01-01")
`,
}

func TestE2E_StandardLibrary(t *testing.T) {
	n := startServe(t, t.TempDir())
	src := t.TempDir()
	writeTree(t, src, stdlibApp)
	n.cli(t, "push", src, "-m", "stdlib", "--wait")

	before := time.Now()
	body, _ := n.get(t, "/stamp?q="+url.QueryEscape("tag=a&tag=b+c"))
	after := time.Now()
	var got struct {
		Now              int64
		Same             bool
		Day, UUID, Token string
		Sha, B64         string
		SigOK            bool `json:"sig_ok"`
		PwOK             bool `json:"pw_ok"`
		Query            map[string][]string
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("GET /stamp = %s: %v", body, err)
	}
	if got.Now < before.UnixNano() || got.Now > after.UnixNano() || !got.Same {
		t.Errorf("time.now() = %d, same = %v; want one instant between %d and %d", got.Now, got.Same, before.UnixNano(), after.UnixNano())
	}
	if want := time.Unix(0, got.Now).UTC().Format("2006-01-02"); got.Day != want {
		t.Errorf("day = %q, want %q", got.Day, want)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(got.UUID) {
		t.Errorf("uuid = %q, want a version 4 UUID", got.UUID)
	}
	if len(got.Token) != 22 || got.Sha != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" ||
		!got.SigOK || !got.PwOK || got.B64 != "héllo" {
		t.Errorf("GET /stamp = %s", body)
	}
	if q := got.Query; len(q["tag"]) != 2 || q["tag"][1] != "b c" {
		t.Errorf("url.parse_qs = %v, want tag = [a, b c]", q)
	}

	// A module whose top level reads the clock is refused by the gate, with the reason.
	writeTree(t, src, map[string]string{"boot.star": "STARTED = time.now()\n"})
	_, errOut, err := n.try("push", src, "-m", "clock at load")
	if err == nil || !strings.Contains(errOut, "boot.star:1:19") ||
		!strings.Contains(errOut, "time.now: no clock at a module's top level") {
		t.Errorf("push of a module reading the clock at load: err %v, stderr %q; want it refused at boot.star:1:19 with the reason", err, errOut)
	}

	// The log record is structured and tagged with the request (read once the process
	// has stopped writing it).
	n.stop(t)
	var logged map[string]any
	for line := range strings.Lines(n.logs.String()) {
		if strings.Contains(line, `"msg":"stamped"`) {
			json.Unmarshal([]byte(line), &logged)
		}
	}
	if logged == nil || logged["user"] != "ann" || logged["attempt"] != 1.0 || logged["source"] != "log" ||
		logged["request_id"] == nil || logged["request_id"] == "" || logged["pos"] != "app.star:5:13" {
		t.Errorf("log record = %v, want msg stamped with user, attempt, source log, the request id and the position", logged)
	}
}
