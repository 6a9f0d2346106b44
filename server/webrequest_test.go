package server_test

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"

	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
	"github.com/starbase/starbase/web"
)

// webApp answers what it makes of the request's cookies, query, form, files and JSON.
const webApp = `
def show(req):
    files = []
    for name in req.files():
        for f in req.files().getlist(name):
            files.append({"field": name, "filename": f.filename, "content_type": f.content_type,
                          "size": len(f.data), "first": list(f.data.elems())[0] if f.data else None})
    return {
        "cookies": dict(req.cookies), "theme_all": req.cookies.getlist("theme"),
        "query": req.query, "tags": req.query.getlist("tag"), "none": req.query.getlist("nope"),
        "form": req.form(), "names": req.form().getlist("name"), "files": files,
        "same_form": req.form() == req.form(),
    }

def api(req):
    data = req.json()
    return {"got": data, "again": req.json() == data}

def lenient(req):
    return {"got": req.json(default = "not json")}

def origin(req):
    return {"remote_addr": req.remote_addr, "scheme": req.scheme, "host": req.host, "url": req.url}

def token(req):
    return {"token": csrf_token()}

routes = {
    "POST /show": show, "GET /show": show, "POST /api": api, "POST /lenient": lenient,
    "GET /origin": origin, "GET /token": token,
}
`

func decode(t *testing.T, body string) map[string]any {
	t.Helper()
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return got
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestRequest_CookiesQueryAndUrlencodedForm(t *testing.T) {
	n := servertest.Start(t, server.Config{Dev: true})
	n.Deploy(t, map[string]string{"app.star": webApp})

	req, _ := http.NewRequest("POST", n.URL+"/show?tag=a&tag=b%20c&q=1", strings.NewReader("name=ann&name=bob&msg=hi+there%21"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// Two Cookie headers, as HTTP/2 clients send them, and a repeated name.
	req.Header.Add("Cookie", "theme=dark; sid=abc")
	req.Header.Add("Cookie", "lang=fr, x; theme=light")
	// A form POST with cookies needs the session's CSRF token (SECURITY.md).
	if resp, body := n.Do(t, req.Clone(req.Context())); resp.StatusCode != 403 {
		t.Fatalf("POST /show with cookies and no CSRF token = %d %s, want 403", resp.StatusCode, body)
	}
	tokResp, tokBody := n.Do(t, mustRequest(t, "GET", n.URL+"/token", "", nil))
	session := tokResp.Cookies()[0]
	req, _ = http.NewRequest("POST", n.URL+"/show?tag=a&tag=b%20c&q=1", strings.NewReader("name=ann&name=bob&msg=hi+there%21"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Add("Cookie", "theme=dark; sid=abc")
	req.Header.Add("Cookie", "lang=fr, x; theme=light")
	req.Header.Add("Cookie", session.Name+"="+session.Value)
	req.Header.Set("X-App-CSRF-Token", decode(t, tokBody)["token"].(string))
	resp, body := n.Do(t, req)
	if resp.StatusCode != 200 {
		t.Fatalf("POST /show = %d %s", resp.StatusCode, body)
	}
	got := decode(t, body)
	if cookies := got["cookies"].(map[string]any); cookies[session.Name] != session.Value {
		t.Errorf("cookies = %v, want the session cookie among them", cookies)
	} else {
		delete(cookies, session.Name)
	}
	for field, want := range map[string]string{
		"cookies":   `{"lang":"fr, x","sid":"abc","theme":"dark"}`,
		"theme_all": `["dark","light"]`,
		"query":     `{"q":"1","tag":"a"}`,
		"tags":      `["a","b c"]`,
		"none":      `[]`,
		"form":      `{"msg":"hi there!","name":"ann"}`,
		"names":     `["ann","bob"]`,
		"files":     `[]`,
		"same_form": `true`,
	} {
		if g := jsonOf(got[field]); g != want {
			t.Errorf("%s = %s, want %s", field, g, want)
		}
	}
}

func TestRequest_MultipartFormHasTextFieldsAndFiles(t *testing.T) {
	n := servertest.Start(t, server.Config{Dev: true})
	n.Deploy(t, map[string]string{"app.star": webApp})

	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("name", "ann")
	mw.WriteField("name", "bob")
	png := append([]byte{0x89, 'P', 'N', 'G', 0, 0xff}, bytes.Repeat([]byte{7}, 1000)...)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="avatar"; filename="me.png"`)
	h.Set("Content-Type", "image/png")
	w, _ := mw.CreatePart(h)
	w.Write(png)
	w, _ = mw.CreateFormFile("avatar", "empty.bin")
	mw.Close()
	req, _ := http.NewRequest("POST", n.URL+"/show", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, body := n.Do(t, req)
	if resp.StatusCode != 200 {
		t.Fatalf("POST /show = %d %s", resp.StatusCode, body)
	}
	got := decode(t, body)
	if g, want := jsonOf(got["names"]), `["ann","bob"]`; g != want {
		t.Errorf("names = %s, want %s", g, want)
	}
	want := `[{"content_type":"image/png","field":"avatar","filename":"me.png","first":137,"size":1006},` +
		`{"content_type":"application/octet-stream","field":"avatar","filename":"empty.bin","first":null,"size":0}]`
	if g := jsonOf(got["files"]); g != want {
		t.Errorf("files = %s\nwant %s", g, want)
	}

	// A form of more parts than the bound is refused 400, naming the bound.
	buf.Reset()
	mw = multipart.NewWriter(&buf)
	for range web.MaxFormParts + 1 {
		mw.WriteField("f", "x")
	}
	mw.Close()
	req, _ = http.NewRequest("POST", n.URL+"/show", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, body = n.Do(t, req)
	if resp.StatusCode != 400 || !strings.Contains(body, "web.MaxFormParts") {
		t.Errorf("a form of %d parts = %d %s, want 400 naming web.MaxFormParts", web.MaxFormParts+1, resp.StatusCode, body)
	}
}

func TestRequest_JSONBodyOrAClear400(t *testing.T) {
	n := servertest.Start(t, server.Config{Dev: true})
	n.Deploy(t, map[string]string{"app.star": webApp})
	post := func(path, body string) (int, string) {
		req, _ := http.NewRequest("POST", n.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		resp, b := n.Do(t, req)
		return resp.StatusCode, b
	}
	if status, body := post("/api", `{"a": [1, 2]}`); status != 200 || body != `{"got":{"a":[1,2]},"again":true}` {
		t.Errorf("POST /api with JSON = %d %s", status, body)
	}
	for _, bad := range []string{`{"a": `, ``, strings.Repeat("[", 2000)} {
		status, body := post("/api", bad)
		got := decode(t, body)
		if msg, _ := got["error"].(string); status != 400 || got["status"] != 400.0 || !(strings.Contains(msg, "not valid JSON") || strings.Contains(msg, "no body")) {
			t.Errorf("POST /api with %.20q = %d %s, want 400 saying the body is not JSON", bad, status, body)
		}
	}
	if status, body := post("/lenient", `nope`); status != 200 || body != `{"got":"not json"}` {
		t.Errorf("req.json(default = ...) of a bad body = %d %s, want the default", status, body)
	}
}

func TestRequest_ClientAddressBelievesOnlyTrustedProxies(t *testing.T) {
	proxies, err := web.ParseProxies([]string{"127.0.0.0/8", "10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		proxies web.Proxies
		header  map[string][]string
		want    string
	}{
		{"no proxy trusted: the peer, whatever the headers say", web.Proxies{},
			map[string][]string{"X-Forwarded-For": {"203.0.113.9"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"evil.example"}},
			`{"host":"HOST","remote_addr":"127.0.0.1","scheme":"http","url":"http://HOST/origin?x=1"}`},
		{"trusted: the right-most untrusted hop, over two header lines", proxies,
			map[string][]string{"X-Forwarded-For": {"6.6.6.6, 203.0.113.9", "10.1.2.3"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"shop.example"}},
			`{"host":"shop.example","remote_addr":"203.0.113.9","scheme":"https","url":"https://shop.example/origin?x=1"}`},
		{"trusted, every hop a proxy: the left-most", proxies,
			map[string][]string{"X-Forwarded-For": {"10.9.9.9, 10.1.2.3"}},
			`{"host":"HOST","remote_addr":"10.9.9.9","scheme":"http","url":"http://HOST/origin?x=1"}`},
		{"trusted, garbage in the chain: stop there", proxies,
			map[string][]string{"X-Forwarded-For": {"6.6.6.6, <script>, 10.1.2.3"}, "X-Forwarded-Host": {"a/b@c"}},
			`{"host":"HOST","remote_addr":"10.1.2.3","scheme":"http","url":"http://HOST/origin?x=1"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := servertest.Start(t, server.Config{TrustedProxies: tc.proxies})
			n.Deploy(t, map[string]string{"app.star": webApp})
			req, _ := http.NewRequest("GET", n.URL+"/origin?x=1", nil)
			for k, vs := range tc.header {
				req.Header[k] = vs
			}
			resp, body := n.Do(t, req)
			want := strings.ReplaceAll(tc.want, "HOST", req.URL.Host)
			if resp.StatusCode != 200 || jsonOf(decode(t, body)) != want {
				t.Errorf("GET /origin = %d %s\nwant %s", resp.StatusCode, body, want)
			}
		})
	}
}

func TestParseProxies_RefusesWhatIsNotAnAddressOrNetwork(t *testing.T) {
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0.1/8/2"} {
		if _, err := web.ParseProxies([]string{bad}); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("ParseProxies(%q) = %v, want an error naming it", bad, err)
		}
	}
}
