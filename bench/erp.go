package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/starbase/starbase/examples"
)

// erpWorkload is one kind of request of the ERP example the erp scenario measures.
type erpWorkload struct {
	name, label string
	load        goLoad
	path        string
}

// erp measures the ERP example (examples/erp, seeded by `serve --demo=erp`) as its users
// load it: placing an order through the JSON API (a transaction that numbers the order
// and writes it), an order's HTML page and the dashboard (aggregates over every order),
// each for a logged-in user. It uses the Go load generator, which sends the token, the
// session cookie and the order's body.
func erp(ctx context.Context, e *env) (*section, error) {
	sec := newSection()
	data, err := e.dir("erp")
	if err != nil {
		return nil, err
	}
	node, err := e.startStarbase(ctx, "erp", data, "127.0.0.1:0", "--demo=erp")
	if err != nil {
		return nil, err
	}
	defer node.stop()
	s, err := erpSetUp(ctx, node.url)
	if err != nil {
		return nil, err
	}
	order, _ := json.Marshal(map[string]any{"customer_id": s.customer, "lines": []any{
		map[string]any{"product_id": s.products[0], "qty": 2},
		map[string]any{"product_id": s.products[1], "qty": 1},
	}})
	api := map[string]string{"X-Erp-Token": s.token, "Accept": "application/json"}
	web := map[string]string{"Cookie": s.cookie}
	status := func(want int) func(int, http.Header, []byte) error {
		return func(got int, _ http.Header, body []byte) error {
			if got != want {
				return fmt.Errorf("status %d, want %d: %.200s", got, want, body)
			}
			return nil
		}
	}
	workloads := []erpWorkload{
		{name: "place", label: "place an order (`POST /api/orders`, 2 lines)", path: "/api/orders",
			load: goLoad{method: "POST", header: withJSON(api), body: order, check: status(201)}},
		{name: "order", label: "an order's page (`GET /orders/{id}`, HTML)", path: "/orders/" + s.order,
			load: goLoad{header: web, check: status(200)}},
		{name: "dashboard", label: "the dashboard (`GET /`, HTML: counts and sums by state)", path: "/",
			load: goLoad{header: web, check: status(200)}},
	}
	conns := e.cfg.conns
	for i := range workloads {
		workloads[i].load.conns = conns
		workloads[i].load.minAnswers = e.cfg.minAnswers
		if _, err := workloads[i].load.run(ctx, node.url+workloads[i].path, e.cfg.warmup); err != nil {
			return nil, fmt.Errorf("warming up %s: %w", workloads[i].name, err)
		}
	}
	runs := map[string][]hotRun{}
	for r := range e.cfg.rounds {
		for _, w := range workloads {
			res, err := measure(ctx, w.load, node, w.path, e.cfg.duration)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", w.name, err)
			}
			e.logf("round %d erp %-9s %8.0f req/s p50 %-8s p99 %-8s %7.1f µs CPU/req %s", r+1, w.name,
				res.RPS(), ms(secs(res.P50)), ms(secs(res.P99)), res.cpuPerRequest()*1e6, res.failedText())
			runs[w.name] = append(runs[w.name], res)
		}
	}
	orders, err := erpCount(ctx, node.url, s.token)
	if err != nil {
		return nil, err
	}

	sec.printf("The ERP example (examples/erp: %d modules of stored code, tests excluded, the SQLite data tier), seeded by "+
		"`starbase serve --demo=erp`, loaded by a user logged in as `sales`: the API with its token, the pages with "+
		"its session cookie. Placing an order reads the customer and the products, takes the next number of the "+
		"order series and writes the order, in one transaction; the order's page computes its tax per line with the "+
		"class's methods and renders it in the shared layout; the dashboard counts and sums the orders by state, "+
		"sums the invoices and lists low stock and recent orders (seven queries). %d rounds of %v per request, "+
		"%d connections, the Go load generator (closed loop), after %v of warm-up each; the orders placed stay, "+
		"so the dashboard aggregates more of them in each round (%s orders at the end). Medians, with ranges.\n\n",
		erpModules(), e.cfg.rounds, e.cfg.duration, conns, e.cfg.warmup, count(float64(orders)))
	sec.printf("| Request | req/s | p50 | p99 | CPU per request | failed |\n|---|---|---|---|---|---|\n")
	for _, w := range workloads {
		var rps, p50, p99, cpu, failed sample
		for _, r := range runs[w.name] {
			rps = append(rps, r.RPS())
			p50 = append(p50, secs(r.P50))
			p99 = append(p99, secs(r.P99))
			cpu = append(cpu, r.cpuPerRequest())
			failed = append(failed, float64(r.Failed))
		}
		sec.printf("| %s | %s | %s | %s | %s | %s |\n", w.label, rps.format(count), p50.format(ms), p99.format(ms), cpu.format(ms), count(sumOf(failed)))
		sec.figure(w.name+" req/s", rps.median(), false)
		sec.figure(w.name+" failed", sumOf(failed), true)
		sec.goal(atMost("ERP: no failed request, "+w.name, sumOf(failed), 0, count))
	}
	sec.printf("\nThe small pages of section 1 are the floor these compare with: the same server, routing and " +
		"runtime, with no data and no session.\n\n")
	return sec, nil
}

// erpModules counts the modules of the ERP example that are not tests.
func erpModules() int {
	files, err := examples.App("erp")
	if err != nil {
		return 0
	}
	n := 0
	for p := range files {
		if strings.HasSuffix(p, ".star") && !strings.HasSuffix(p, "_test.star") {
			n++
		}
	}
	return n
}

func sumOf(s sample) float64 {
	var t float64
	for _, v := range s {
		t += v
	}
	return t
}

func withJSON(h map[string]string) map[string]string {
	out := map[string]string{"Content-Type": "application/json"}
	for k, v := range h {
		out[k] = v
	}
	return out
}

// erpSession is what the erp scenario sets up: a user's API token and session cookie, a
// customer, two products with stock for every order the run places, and one order.
type erpSession struct {
	token, cookie   string
	customer, order string
	products        []string
}

// erpSetUp logs the demo's sales user in (which seeds the demo data on the first request)
// and creates what the workloads use.
func erpSetUp(ctx context.Context, base string) (erpSession, error) {
	var s erpSession
	hc := &http.Client{Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	call := func(method, path string, in any, want int, out any) error {
		var body io.Reader
		if in != nil {
			b, _ := json.Marshal(in)
			body = bytes.NewReader(b)
		}
		req, err := http.NewRequestWithContext(ctx, method, base+path, body)
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		if s.token != "" {
			req.Header.Set("X-Erp-Token", s.token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			return fmt.Errorf("%s %s: %d %s, want %d", method, path, resp.StatusCode, b, want)
		}
		if out != nil {
			return json.Unmarshal(b, out)
		}
		return nil
	}
	var login struct{ Token string }
	if err := call("POST", "/api/login", map[string]string{"username": "sales", "password": "sales-demo"}, 200, &login); err != nil {
		return s, err
	}
	s.token = login.Token
	cookie, err := erpWebLogin(ctx, hc, base)
	if err != nil {
		return s, err
	}
	s.cookie = cookie
	var c struct{ ID string }
	if err := call("POST", "/api/customers", map[string]any{"name": "Bench Buyer", "email": "bench@example.com"}, 201, &c); err != nil {
		return s, err
	}
	s.customer = c.ID
	for i, tax := range []string{"standard", "reduced"} {
		var p struct{ ID string }
		if err := call("POST", "/api/products", map[string]any{"sku": fmt.Sprintf("BENCH-%d", i), "name": "Bench " + tax,
			"price_cents": 1999 + 1000*i, "tax_class": tax, "stock": 1000000}, 201, &p); err != nil {
			return s, err
		}
		s.products = append(s.products, p.ID)
	}
	var o struct{ ID string }
	if err := call("POST", "/api/orders", map[string]any{"customer_id": s.customer, "lines": []any{
		map[string]any{"product_id": s.products[0], "qty": 3}, map[string]any{"product_id": s.products[1], "qty": 1},
	}}, 201, &o); err != nil {
		return s, err
	}
	s.order = o.ID
	return s, nil
}

// erpWebLogin logs the sales user in through the login form and returns the cookies the
// app set, as a Cookie header value.
func erpWebLogin(ctx context.Context, hc *http.Client, base string) (string, error) {
	form := url.Values{"username": {"sales"}, "password": {"sales-demo"}, "next": {"/"}}
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/login", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		b, _ := io.ReadAll(resp.Body)
		return "", fmt.Errorf("POST /login: %d %s, want 303", resp.StatusCode, b)
	}
	var pairs []string
	for _, c := range resp.Cookies() {
		pairs = append(pairs, c.Name+"="+c.Value)
	}
	if len(pairs) == 0 {
		return "", fmt.Errorf("POST /login set no cookie")
	}
	return strings.Join(pairs, "; "), nil
}

// erpCount returns how many orders the store holds, counted by state on the dashboard API.
func erpCount(ctx context.Context, base, token string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/api/dashboard", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("X-Erp-Token", token)
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var d struct {
		OrdersByState []struct{ Count int } `json:"orders_by_state"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		return 0, fmt.Errorf("GET /api/dashboard: %w", err)
	}
	n := 0
	for _, s := range d.OrdersByState {
		n += s.Count
	}
	return n, nil
}
