// Package client talks to a Starbase server's HTTP API (see package api).
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/starbase/starbase/api"
)

// Client is a Starbase API client. It is safe for concurrent use.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// Options configure a Client.
type Options struct {
	Token string
	// Insecure allows sending the token over plain HTTP to a host that is not loopback.
	Insecure bool
	HTTP     *http.Client
}

// New returns a client of the server at serverURL: a scheme (http or https), a host and
// an optional port, nothing else. The API is always at /-/api/ of the server's root, so a
// URL with a path (http://HOST/starbase), a query, a fragment or user information is
// refused rather than guessed at: a path would send the requests, token included, to
// whatever answers under that path (behind a proxy, possibly the application).
func New(serverURL string, opts Options) (*Client, error) {
	u, err := ParseServerURL(serverURL)
	if err != nil {
		return nil, err
	}
	if opts.Token != "" && u.Scheme == "http" && !opts.Insecure && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("refusing to send a token over plain HTTP to %s: use https://, or --insecure if you really mean it", u.Host)
	}
	hc := opts.HTTP
	if hc == nil {
		hc = &http.Client{
			Timeout: 5 * time.Minute,
			// The API never redirects: a redirect comes from something else, and following
			// it would carry the request (and, to the same host, the token) elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return &Client{base: u, token: opts.Token, http: hc}, nil
}

// ParseServerURL checks that s is the URL of a server as New accepts it and returns it
// with its trailing "/" removed.
func ParseServerURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("invalid server URL %q: use http://HOST:PORT or https://HOST:PORT", s)
	}
	switch {
	case u.Path != "" && u.Path != "/":
		return nil, fmt.Errorf("invalid server URL %q: it has the path %q, and the API is always at /-/api/ on the server's root: use %s://%s", s, u.Path, u.Scheme, u.Host)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("invalid server URL %q: it has a query or fragment: use %s://%s", s, u.Scheme, u.Host)
	case u.User != nil:
		return nil, fmt.Errorf("invalid server URL %q: it has user information; pass the token with --token or STARBASE_TOKEN: use %s://%s", s, u.Scheme, u.Host)
	}
	u.Path, u.RawPath = "", ""
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Error is an error answered by the server.
type Error struct {
	Status int
	Body   api.Error
}

func (e *Error) Error() string {
	if len(e.Body.Problems) == 0 {
		return e.Body.Error
	}
	var b strings.Builder
	b.WriteString(e.Body.Error)
	for _, p := range e.Body.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// do sends a request and decodes a JSON answer into out (when not nil).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	body, err := c.raw(ctx, method, path, query, in)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%w: %s %s: invalid JSON: %v", ErrNotAPI, method, path, err)
	}
	return nil
}

func (c *Client) raw(ctx context.Context, method, path string, query url.Values, in any) ([]byte, error) {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawQuery = query.Encode()
	var rd io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the server at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	if resp.Header.Get(api.MarkerHeader) != api.MarkerValue {
		return nil, c.notAPI(method, path, resp)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading answer of %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		return nil, answerError(method, path, resp, body)
	}
	return body, nil
}

// answerError is the error an answer of status 300 or more with body stands for.
func answerError(method, path string, resp *http.Response, body []byte) *Error {
	e := &Error{Status: resp.StatusCode}
	if json.Unmarshal(body, &e.Body) != nil || e.Body.Error == "" {
		e.Body.Error = fmt.Sprintf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(body)))
	}
	return e
}

// ErrNotAPI is returned when an answer does not come from a Starbase API: it lacks
// api.MarkerHeader, or it is not the JSON it should be.
var ErrNotAPI = errors.New("not an answer of the Starbase API")

// notAPI describes an answer without the API's marker.
func (c *Client) notAPI(method, path string, resp *http.Response) error {
	what := resp.Status
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		what += ", " + ct
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		what += ", redirecting to " + loc
	}
	return fmt.Errorf("%w: %s %s at %s answered %s without the %s header; is %s the URL of a Starbase node?",
		ErrNotAPI, method, path, c.base, what, api.MarkerHeader, c.base)
}

// Push makes the ref's tree equal to req.Files.
func (c *Client) Push(ctx context.Context, req api.PushRequest) (api.CommitResult, error) {
	var res api.CommitResult
	err := c.do(ctx, http.MethodPost, "/-/api/push", nil, req, &res)
	return res, err
}

// Revert makes a new commit whose tree is commit's.
func (c *Client) Revert(ctx context.Context, commit string) (api.CommitResult, error) {
	var res api.CommitResult
	err := c.do(ctx, http.MethodPost, "/-/api/revert", nil, api.RevertRequest{Commit: commit}, &res)
	return res, err
}

// Files returns the files of commit ("" for main).
func (c *Client) Files(ctx context.Context, commit string) (api.Files, error) {
	var res api.Files
	q := url.Values{}
	if commit != "" {
		q.Set("commit", commit)
	}
	err := c.do(ctx, http.MethodGet, "/-/api/files", q, nil, &res)
	return res, err
}

// Log returns up to n commits of main, newest first.
func (c *Client) Log(ctx context.Context, n int) ([]api.Commit, error) {
	var res []api.Commit
	err := c.do(ctx, http.MethodGet, "/-/api/log", url.Values{"n": {strconv.Itoa(n)}}, nil, &res)
	return res, err
}

// Diff returns the unified diff from one commit to another ("" for the defaults: to = main,
// from = to's parent).
func (c *Client) Diff(ctx context.Context, from, to string) (string, error) {
	q := url.Values{}
	if from != "" {
		q.Set("from", from)
	}
	if to != "" {
		q.Set("to", to)
	}
	b, err := c.raw(ctx, http.MethodGet, "/-/api/diff", q, nil)
	return string(b), err
}

// FullStatus returns what the nodes serve, with the problems of the commits that failed
// to build on them (GET /-/api/status, reader).
func (c *Client) FullStatus(ctx context.Context) (api.Status, error) {
	var res api.Status
	err := c.do(ctx, http.MethodGet, "/-/api/status", nil, nil, &res)
	return res, err
}

// Status returns what the node serves.
func (c *Client) Status(ctx context.Context) (api.Status, error) {
	var res api.Status
	err := c.do(ctx, http.MethodGet, "/-/status", nil, nil, &res)
	return res, err
}
