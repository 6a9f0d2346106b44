package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The ERP example (examples/erp) end to end, through the built binary: `serve --demo=erp`
// seeds it into an empty store, and these tests use it as its users would, through its
// HTML forms (a browser's cookie, the CSRF field) and its JSON API (a token).

// erpUser is one logged-in user of the ERP app: a browser (cookie jar, redirects not
// followed, so that a test sees each 303) and an API token.
type erpUser struct {
	t     *testing.T
	base  string
	web   *http.Client
	token string
	csrf  string
}

// erpLogin logs username in through the login form and through POST /api/login.
func erpLogin(t *testing.T, n *node, username, password string) *erpUser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	u := &erpUser{t: t, base: n.url, web: &http.Client{
		Jar:           jar,
		Timeout:       60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	resp, body := u.do("POST", "/login", "application/x-www-form-urlencoded",
		url.Values{"username": {username}, "password": {password}, "next": {"/orders"}}.Encode(), false)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/orders" {
		t.Fatalf("login of %s = %d %s, want 303 to /orders", username, resp.StatusCode, body)
	}
	page := u.page("/")
	m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the dashboard of %s has no CSRF field:\n%s", username, page)
	}
	u.csrf = m[1]
	var login struct{ Token string }
	u.apiJSON("POST", "/api/login", map[string]any{"username": username, "password": password}, 200, &login)
	u.token = login.Token
	return u
}

// do sends a request; api requests carry the token, the others the browser's cookies.
func (u *erpUser) do(method, path, contentType, body string, api bool) (*http.Response, string) {
	u.t.Helper()
	req, err := http.NewRequest(method, u.base+path, strings.NewReader(body))
	if err != nil {
		u.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	client := u.web
	if api {
		req.Header.Set("Accept", "application/json")
		req.Header.Set("X-Erp-Token", u.token)
		client = &http.Client{Timeout: 60 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		u.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		u.t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return resp, string(b)
}

// page GETs an HTML page that must answer 200.
func (u *erpUser) page(path string) string {
	u.t.Helper()
	resp, body := u.do("GET", path, "", "", false)
	if resp.StatusCode != 200 {
		u.t.Fatalf("GET %s = %d, want 200:\n%s", path, resp.StatusCode, body)
	}
	return body
}

// submit posts a form with the user's CSRF token and returns the status, the Location and
// the body.
func (u *erpUser) submit(path string, fields url.Values) (int, string, string) {
	u.t.Helper()
	f := url.Values{"csrf_token": {u.csrf}}
	for k, v := range fields {
		f[k] = v
	}
	resp, body := u.do("POST", path, "application/x-www-form-urlencoded", f.Encode(), false)
	return resp.StatusCode, resp.Header.Get("Location"), body
}

// apiJSON calls the JSON API, checks the status and decodes the answer into out (if not nil).
func (u *erpUser) apiJSON(method, path string, in any, wantStatus int, out any) string {
	u.t.Helper()
	var body string
	if in != nil {
		b, _ := json.Marshal(in)
		body = string(b)
	}
	resp, got := u.do(method, path, "application/json", body, true)
	if resp.StatusCode != wantStatus {
		u.t.Fatalf("%s %s = %d %s, want %d", method, path, resp.StatusCode, got, wantStatus)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(got), out); err != nil {
			u.t.Fatalf("%s %s: %v in %s", method, path, err, got)
		}
	}
	return got
}

// erpOrder is an order as the API answers it.
type erpOrder struct {
	ID         string `json:"id"`
	Number     string `json:"number"`
	State      string `json:"state"`
	InvoiceID  string `json:"invoice_id"`
	NetCents   int    `json:"net_cents"`
	TaxCents   int    `json:"tax_cents"`
	TotalCents int    `json:"total_cents"`
	Lines      []struct {
		Qty    int `json:"qty"`
		RateBP int `json:"rate_bp"`
	} `json:"lines"`
	History []struct{ Action, From, To, By, At string } `json:"history"`
}

type erpProduct struct {
	ID    string `json:"id"`
	SKU   string `json:"sku"`
	Stock int    `json:"stock"`
}

func (u *erpUser) product(id string) erpProduct {
	u.t.Helper()
	var p erpProduct
	u.apiJSON("GET", "/api/products/"+id, nil, 200, &p)
	return p
}

func (u *erpUser) order(id string) erpOrder {
	u.t.Helper()
	var o erpOrder
	u.apiJSON("GET", "/api/orders/"+id, nil, 200, &o)
	return o
}

// newProduct creates a product through the API.
func (u *erpUser) newProduct(sku string, priceCents int, taxClass string, stock int) erpProduct {
	u.t.Helper()
	var p erpProduct
	u.apiJSON("POST", "/api/products", map[string]any{
		"sku": sku, "name": "Product " + sku, "price_cents": priceCents, "tax_class": taxClass, "stock": stock,
	}, 201, &p)
	return p
}

func (u *erpUser) newCustomer(name string) string {
	u.t.Helper()
	var c struct{ ID string }
	u.apiJSON("POST", "/api/customers", map[string]any{"name": name, "email": strings.ToLower(strings.ReplaceAll(name, " ", "")) + "@example.com"}, 201, &c)
	return c.ID
}

// idIn returns the object id a redirect location ends with.
func idIn(t *testing.T, location, prefix string) string {
	t.Helper()
	id, ok := strings.CutPrefix(location, prefix)
	if !ok || len(id) != 26 {
		t.Fatalf("redirected to %q, want %s<id>", location, prefix)
	}
	return id
}

func startERP(t *testing.T) *node {
	t.Helper()
	n := startServe(t, t.TempDir(), "--demo=erp")
	if !strings.Contains(n.cli(t, "log"), "Example app erp") {
		t.Fatalf("serve --demo=erp did not seed the example; log: %s", n.cli(t, "log"))
	}
	return n
}

func TestE2E_ERP_OrderToCash(t *testing.T) {
	n := startERP(t)
	sales := erpLogin(t, n, "sales", "sales-demo")
	acct := erpLogin(t, n, "accounting", "accounting-demo")

	// The seeded sample data is there.
	if page := sales.page("/customers"); !strings.Contains(page, "Acme Tools") || !strings.Contains(page, "Globex Export") {
		t.Fatalf("the customers page does not list the seeded customers:\n%s", page)
	}

	// A customer through the form: first with mistakes, refused with a message per field.
	status, _, body := sales.submit("/customers", url.Values{"name": {"  "}, "email": {"not-an-address"}})
	if status != 422 || !strings.Contains(body, `data-field="name">name is required`) || !strings.Contains(body, `data-field="email">enter an e-mail address`) {
		t.Fatalf("invalid customer form = %d, want 422 with a message per field:\n%s", status, body)
	}
	status, loc, body := sales.submit("/customers", url.Values{"name": {"Wayne Enterprises"}, "email": {"ap@wayne.example"}, "country": {"US"}})
	if status != 303 {
		t.Fatalf("customer form = %d %s, want 303", status, body)
	}
	customerID := idIn(t, loc, "/customers/")
	if page := sales.page("/customers?q=wayne"); !strings.Contains(page, "Wayne Enterprises") || strings.Contains(page, "Acme Tools") {
		t.Fatalf("search for wayne:\n%s", page)
	}

	// A form without the CSRF token is refused and writes nothing.
	resp, _ := sales.do("POST", "/customers", "application/x-www-form-urlencoded", "name=Forged&email=f@x.example", false)
	if resp.StatusCode != 403 {
		t.Fatalf("customer form without CSRF token = %d, want 403", resp.StatusCode)
	}
	if page := sales.page("/customers?q=forged"); strings.Contains(page, "Forged") {
		t.Fatal("a form without a CSRF token created a customer")
	}

	// Products through the API; an order through the form, a second line through the API.
	pump := sales.newProduct("PUMP-1", 19999, "standard", 5)
	book := sales.newProduct("BOOK-1", 999, "reduced", 10)
	status, loc, body = sales.submit("/orders", url.Values{"customer_id": {customerID}, "product_id": {pump.ID}, "qty": {"2"}})
	if status != 303 {
		t.Fatalf("order form = %d %s, want 303", status, body)
	}
	orderID := idIn(t, loc, "/orders/")
	var o erpOrder
	sales.apiJSON("POST", "/api/orders/"+orderID+"/lines", map[string]any{"product_id": book.ID, "qty": 3}, 200, &o)
	// 2 x 199.99 at 20 % and 3 x 9.99 at 5.5 %: tax rounded half up per line.
	wantNet, wantTax := 2*19999+3*999, 8000+165 // 7999.6 -> 8000; 164.835 -> 165
	if o.State != "draft" || o.NetCents != wantNet || o.TaxCents != wantTax || o.TotalCents != wantNet+wantTax {
		t.Fatalf("order after two lines = %+v, want draft, net %d, tax %d", o, wantNet, wantTax)
	}
	page := sales.page("/orders/" + orderID)
	for _, want := range []string{`id="net">429.95<`, `id="tax">81.65<`, `id="total">511.60<`, "/actions/confirm", "/actions/cancel"} {
		if !strings.Contains(page, want) {
			t.Errorf("order page lacks %q", want)
		}
	}
	if strings.Contains(page, "/actions/invoice") {
		t.Error("the order page offers sales an action of accounting (invoice)")
	}

	// Guards: accounting may not confirm; nothing skips a state.
	acct.apiJSON("POST", "/api/orders/"+orderID+"/confirm", nil, 403, nil)
	sales.apiJSON("POST", "/api/orders/"+orderID+"/deliver", nil, 409, nil)

	// confirm (form), deliver (API): stock goes down by the quantities, with a move each.
	if status, _, body := sales.submit("/orders/"+orderID+"/actions/confirm", nil); status != 303 {
		t.Fatalf("confirm = %d %s", status, body)
	}
	if got := sales.product(pump.ID).Stock; got != 5 {
		t.Fatalf("stock of PUMP-1 after confirm = %d, want 5 (stock moves on delivery)", got)
	}
	sales.apiJSON("POST", "/api/orders/"+orderID+"/deliver", nil, 200, &o)
	if got, want := sales.product(pump.ID).Stock, 3; got != want {
		t.Errorf("stock of PUMP-1 after delivery = %d, want %d", got, want)
	}
	if got, want := sales.product(book.ID).Stock, 7; got != want {
		t.Errorf("stock of BOOK-1 after delivery = %d, want %d", got, want)
	}
	var moves struct {
		Moves []struct {
			Qty     int    `json:"qty"`
			Reason  string `json:"reason"`
			OrderID string `json:"order_id"`
			By      string `json:"by"`
		}
	}
	sales.apiJSON("GET", "/api/products/"+pump.ID+"/moves", nil, 200, &moves)
	if len(moves.Moves) != 1 || moves.Moves[0].Qty != -2 || moves.Moves[0].Reason != "delivery" || moves.Moves[0].OrderID != orderID || moves.Moves[0].By != "sales" {
		t.Errorf("moves of PUMP-1 = %+v, want one delivery of -2 for the order by sales", moves.Moves)
	}

	// Invoicing is accounting's: the page shows accounting the action, sales not.
	if page := acct.page("/orders/" + orderID); !strings.Contains(page, "/actions/invoice") || strings.Contains(page, "/actions/cancel") {
		t.Errorf("accounting's order page should offer invoice and not cancel")
	}
	sales.apiJSON("POST", "/api/orders/"+orderID+"/invoice", nil, 403, nil)
	if status, _, body := acct.submit("/orders/"+orderID+"/actions/invoice", nil); status != 303 {
		t.Fatalf("invoice = %d %s", status, body)
	}
	o = sales.order(orderID)
	if o.State != "invoiced" || o.InvoiceID == "" {
		t.Fatalf("order after invoicing = %+v", o)
	}

	// Payments: one partial (API), an overpayment refused (form), the rest (form).
	var inv struct {
		Number       string `json:"number"`
		TotalCents   int    `json:"total_cents"`
		BalanceCents int    `json:"balance_cents"`
		State        string `json:"state"`
	}
	acct.apiJSON("GET", "/api/invoices/"+o.InvoiceID, nil, 200, &inv)
	if inv.TotalCents != wantNet+wantTax || inv.State != "open" || inv.Number != "INV-00001" {
		t.Fatalf("invoice = %+v, want open INV-00001 of %d", inv, wantNet+wantTax)
	}
	sales.apiJSON("POST", "/api/invoices/"+o.InvoiceID+"/payments", map[string]any{"amount_cents": 100}, 403, nil)
	acct.apiJSON("POST", "/api/invoices/"+o.InvoiceID+"/payments", map[string]any{"amount_cents": 20000, "method": "card"}, 201, nil)
	status, _, body = acct.submit("/invoices/"+o.InvoiceID+"/payments", url.Values{"amount": {"400.00"}, "method": {"transfer"}})
	if status != 422 || !strings.Contains(body, "more than the 311.60 left to pay") {
		t.Fatalf("overpayment = %d, want 422 naming what is left:\n%s", status, body)
	}
	if sales.order(orderID).State != "invoiced" {
		t.Fatal("a partial payment moved the order on")
	}
	if status, _, body := acct.submit("/invoices/"+o.InvoiceID+"/payments", url.Values{"amount": {"311.60"}, "method": {"transfer"}}); status != 303 {
		t.Fatalf("final payment = %d %s", status, body)
	}
	acct.apiJSON("GET", "/api/invoices/"+o.InvoiceID, nil, 200, &inv)
	o = sales.order(orderID)
	if inv.State != "paid" || inv.BalanceCents != 0 || o.State != "paid" {
		t.Fatalf("after paying in full: invoice %+v, order %s; want both paid", inv, o.State)
	}
	var trail []string
	for _, h := range o.History {
		if h.At == "" {
			t.Errorf("history entry %+v has no time", h)
		}
		trail = append(trail, h.Action+":"+h.From+">"+h.To+":"+h.By)
	}
	if got, want := strings.Join(trail, " "), "confirm:draft>confirmed:sales deliver:confirmed>delivered:sales invoice:delivered>invoiced:accounting pay:invoiced>paid:accounting"; got != want {
		t.Errorf("history = %s, want %s", got, want)
	}

	// The dashboard counts the order as paid and the money as received.
	dash := acct.page("/")
	for _, want := range []string{`id="received">511.60<`, `id="outstanding">0.00<`} {
		if !strings.Contains(dash, want) {
			t.Errorf("dashboard lacks %s", want)
		}
	}
	if !regexp.MustCompile(`data-state="paid"><td>.*?</td><td class="num">1</td><td class="num">429.95</td>`).MatchString(dash) {
		t.Errorf("dashboard's paid row is not 1 order of 429.95 net:\n%s", dash)
	}

	// Cancelling a delivered order gives its stock back; a paid one cannot be cancelled.
	sales.apiJSON("POST", "/api/orders/"+orderID+"/cancel", nil, 409, nil)
	var o2 erpOrder
	sales.apiJSON("POST", "/api/orders", map[string]any{"customer_id": customerID, "lines": []any{map[string]any{"product_id": pump.ID, "qty": 3}}}, 201, &o2)
	sales.apiJSON("POST", "/api/orders/"+o2.ID+"/confirm", nil, 200, nil)
	sales.apiJSON("POST", "/api/orders/"+o2.ID+"/deliver", nil, 200, nil)
	if got := sales.product(pump.ID).Stock; got != 0 {
		t.Fatalf("stock after delivering the last 3 = %d, want 0", got)
	}
	sales.apiJSON("POST", "/api/orders/"+o2.ID+"/cancel", nil, 200, &o2)
	if got := sales.product(pump.ID).Stock; got != 3 || o2.State != "cancelled" {
		t.Fatalf("after cancelling a delivered order: stock %d (want 3), state %s", got, o2.State)
	}

	// Bad input: unknown ids are 404, a body that is not JSON is 400, no token is 401.
	sales.apiJSON("GET", "/api/orders/not-an-id", nil, 404, nil)
	if resp, _ := sales.do("POST", "/api/orders", "application/json", "{not json", true); resp.StatusCode != 400 {
		t.Errorf("bad JSON = %d, want 400", resp.StatusCode)
	}
	if resp, body := sales.do("GET", "/no/such/page", "", "", false); resp.StatusCode != 404 || !strings.Contains(body, "There is nothing at /no/such/page") {
		t.Errorf("an unknown path = %d, want 404 with the app's own page (templates/errors/404.html):\n%s", resp.StatusCode, body)
	}
	if resp, _ := http.Get(n.url + "/api/orders"); resp.StatusCode != 401 {
		t.Errorf("API without a token = %d, want 401", resp.StatusCode)
	}
	if resp, _ := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get(n.url + "/orders"); resp.StatusCode != 303 || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Errorf("a page without a login = %d to %q, want 303 to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// The last units of a product, ordered by more clients than there are units: every
// delivery reads the stock in its transaction, so exactly as many deliveries succeed as
// there are units, whatever the interleaving; the others are refused with the shortage.
func TestE2E_ERP_ConcurrentOrdersNeverOversell(t *testing.T) {
	n := startERP(t)
	sales := erpLogin(t, n, "sales", "sales-demo")
	const units, clients = 3, 12
	last := sales.newProduct("LAST-3", 5000, "standard", units)
	customer := sales.newCustomer("Rush Buyers")

	ids := make([]string, clients)
	for i := range ids {
		var o erpOrder
		sales.apiJSON("POST", "/api/orders", map[string]any{"customer_id": customer, "lines": []any{map[string]any{"product_id": last.ID, "qty": 1}}}, 201, &o)
		sales.apiJSON("POST", "/api/orders/"+o.ID+"/confirm", nil, 200, nil)
		ids[i] = o.ID
	}
	statuses := make([]int, clients)
	bodies := make([]string, clients)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req, _ := http.NewRequest("POST", n.url+"/api/orders/"+id+"/deliver", nil)
			req.Header.Set("X-Erp-Token", sales.token)
			req.Header.Set("Accept", "application/json")
			resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
			if err != nil {
				bodies[i] = err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			statuses[i], bodies[i] = resp.StatusCode, string(b)
		}()
	}
	close(start)
	wg.Wait()
	delivered := 0
	for i, s := range statuses {
		switch {
		case s == 200:
			delivered++
		case s == 409 && strings.Contains(bodies[i], "not enough LAST-3"):
		default:
			t.Errorf("delivery %d = %d %s, want 200 or 409 naming the shortage", i, s, bodies[i])
		}
	}
	if delivered != units {
		t.Errorf("%d deliveries succeeded, want exactly %d (the units in stock)", delivered, units)
	}
	if got := sales.product(last.ID).Stock; got != 0 {
		t.Errorf("stock after the rush = %d, want 0", got)
	}
	var moves struct{ Moves []struct{ Qty int } }
	sales.apiJSON("GET", "/api/products/"+last.ID+"/moves", nil, 200, &moves)
	if len(moves.Moves) != units {
		t.Errorf("%d stock moves, want %d", len(moves.Moves), units)
	}
	var list struct{ Items []erpOrder }
	sales.apiJSON("GET", "/api/orders?state=delivered", nil, 200, &list)
	if len(list.Items) != units {
		t.Errorf("%d delivered orders, want %d", len(list.Items), units)
	}
}

// pullERP pulls the running app into a new directory.
func pullERP(t *testing.T, n *node) string {
	t.Helper()
	dir := t.TempDir()
	n.cli(t, "pull", dir)
	return dir
}

// editFile replaces old with new, once, in path under dir.
func editFile(t *testing.T, dir, path, old, new string) {
	t.Helper()
	p := filepath.Join(dir, path)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(b), old) != 1 {
		t.Fatalf("%s does not hold %q exactly once", path, old)
	}
	if err := os.WriteFile(p, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

// While clients keep placing orders and reading order pages, a developer pushes a change
// of the tax rule (used by a method of SalesOrder, which has stored instances) and then a
// change of the order page's template. No request fails; each answer is what the commit
// in its Starbase-Commit header computes; orders placed before the change compute with
// the new rule afterwards.
func TestE2E_ERP_LiveChangeUnderLoad(t *testing.T) {
	n := startERP(t)
	sales := erpLogin(t, n, "sales", "sales-demo")
	customer := sales.newCustomer("Steady Customer")
	widget := sales.newProduct("LIVE-1", 1999, "standard", 1000000)
	_, base := n.get(t, "/login")

	const oldNote, newNote = "Prices in EUR. Thank you for your business.", "Prices in EUR, tax included where due. Thank you!"
	type answer struct {
		commit string
		kind   string // "api" or "page"
		order  erpOrder
		page   string
		err    string
	}
	var (
		mu      sync.Mutex
		answers []answer
		first   []string // orders created before any change
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := 0; c < 3; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 60 * time.Second}
			send := func(method, path, body string, api bool) (*http.Response, string, error) {
				req, _ := http.NewRequest(method, n.url+path, strings.NewReader(body))
				if api {
					req.Header.Set("X-Erp-Token", sales.token)
					req.Header.Set("Accept", "application/json")
				} else {
					for _, c := range sales.web.Jar.Cookies(req.URL) {
						req.AddCookie(c)
					}
				}
				resp, err := client.Do(req)
				if err != nil {
					return nil, "", err
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				return resp, string(b), err
			}
			for {
				select {
				case <-stop:
					return
				default:
				}
				body := fmt.Sprintf(`{"customer_id": %q, "lines": [{"product_id": %q, "qty": 3}]}`, customer, widget.ID)
				resp, b, err := send("POST", "/api/orders", body, true)
				a := answer{kind: "api"}
				if err != nil || resp.StatusCode != 201 {
					a.err = fmt.Sprintf("POST /api/orders: %v %v %s", err, resp, b)
				} else {
					a.commit = resp.Header.Get("Starbase-Commit")
					if err := json.Unmarshal([]byte(b), &a.order); err != nil {
						a.err = err.Error()
					}
				}
				mu.Lock()
				answers = append(answers, a)
				if a.commit == base {
					first = append(first, a.order.ID)
				}
				mu.Unlock()
				if a.err != "" {
					continue
				}
				resp, b, err = send("GET", "/orders/"+a.order.ID, "", false)
				p := answer{kind: "page", page: b}
				if err != nil || resp.StatusCode != 200 {
					p.err = fmt.Sprintf("GET /orders/%s: %v %v", a.order.ID, err, resp)
				} else {
					p.commit = resp.Header.Get("Starbase-Commit")
				}
				mu.Lock()
				answers = append(answers, p)
				mu.Unlock()
			}
		}()
	}
	// waitAnswers waits until the clients have had k answers from commit.
	waitAnswers := func(commit string, k int) {
		t.Helper()
		deadline := time.Now().Add(120 * time.Second)
		for {
			mu.Lock()
			got := 0
			for _, a := range answers {
				if a.commit == commit {
					got++
				}
			}
			mu.Unlock()
			if got >= k {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the clients had %d answers from commit %.12s within the deadline, want %d", got, commit, k)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	defer func() { close(stop); wg.Wait() }()
	waitAnswers(base, 6)

	dir := pullERP(t, n)
	editFile(t, dir, "lib/tax.star", `"standard": 2000,`, `"standard": 2100,`)
	// The gate refuses the new rate until the test that pins the rates agrees.
	if _, stderr, err := n.try("push", dir, "-m", "Standard rate 21 %"); err == nil || !strings.Contains(stderr, "lib/tax_test.star") {
		t.Fatalf("push of a rate its test contradicts: err=%v stderr=%q, want a refusal naming lib/tax_test.star", err, stderr)
	}
	editFile(t, dir, "lib/tax_test.star", `assert.eq(rate("standard"), 2000)`, `assert.eq(rate("standard"), 2100)`)
	taxCommit := lastLine(n.cli(t, "push", dir, "-m", "Standard rate 21 %", "--wait"))
	waitAnswers(taxCommit, 6)
	editFile(t, dir, "templates/orders/show.html", oldNote, newNote)
	pageCommit := lastLine(n.cli(t, "push", dir, "-m", "Order page: new note", "--wait"))
	waitAnswers(pageCommit, 6)
	close(stop)
	wg.Wait()
	stop = make(chan struct{}) // for the deferred close

	rate := map[string]int{base: 2000, taxCommit: 2100, pageCommit: 2100}
	note := map[string]string{base: oldNote, taxCommit: oldNote, pageCommit: newNote}
	for _, a := range answers {
		if a.err != "" {
			t.Errorf("a request failed during the change: %s", a.err)
			continue
		}
		want, ok := rate[a.commit]
		if !ok {
			t.Errorf("an answer from commit %q, which is none of the three", a.commit)
			continue
		}
		switch a.kind {
		case "api":
			tax := (3*1999*want + 5000) / 10000
			if a.order.TaxCents != tax || a.order.Lines[0].RateBP != want || a.order.TotalCents != 3*1999+tax {
				t.Errorf("order %s from commit %.12s: tax %d at %d bp, want %d at %d bp", a.order.Number, a.commit, a.order.TaxCents, a.order.Lines[0].RateBP, tax, want)
			}
		case "page":
			if !strings.Contains(a.page, note[a.commit]) {
				t.Errorf("order page from commit %.12s lacks its template's note %q", a.commit, note[a.commit])
			}
			wantRate := map[int]string{2000: "20 %", 2100: "21 %"}[want]
			if !strings.Contains(a.page, `<td class="num">`+wantRate+`</td>`) {
				t.Errorf("order page from commit %.12s does not show the rate %s", a.commit, wantRate)
			}
		}
	}
	// An order placed before the change computes with the new rule now.
	if len(first) == 0 {
		t.Fatal("no order was placed before the change")
	}
	o := sales.order(first[0])
	if want := (3*1999*2100 + 5000) / 10000; o.TaxCents != want || o.Lines[0].RateBP != 2100 {
		t.Errorf("order %s placed before the change: tax %d at %d bp, want %d at 2100 bp", o.Number, o.TaxCents, o.Lines[0].RateBP, want)
	}
	t.Logf("%d answers across the two changes", len(answers))
}

// A field added to SalesOrder with a version and a migrate function: stored orders read
// upgraded at once; `starbase migrate` stores them upgraded, so that a query on the new
// (indexed) field finds them all.
func TestE2E_ERP_SchemaChangeWithMigrate(t *testing.T) {
	n := startERP(t)
	sales := erpLogin(t, n, "sales", "sales-demo")
	customer := sales.newCustomer("Old Customer")
	p := sales.newProduct("MIG-1", 1000, "zero", 100)
	var before []string
	for range 3 {
		var o erpOrder
		sales.apiJSON("POST", "/api/orders", map[string]any{"customer_id": customer, "lines": []any{map[string]any{"product_id": p.ID, "qty": 1}}}, 201, &o)
		before = append(before, o.ID)
	}
	var all struct{ Items []erpOrder }
	sales.apiJSON("GET", "/api/orders", nil, 200, &all)
	stored := len(all.Items) // the seeded orders and these three

	dir := pullERP(t, n)
	editFile(t, dir, "models/order.star", `        "created_by": "",
    },`, `        "created_by": "",
        "currency": "",
    },`)
	editFile(t, dir, "models/order.star", `    indexes = ["number", "customer_id", "state", "net_cents"],
)`, `    indexes = ["number", "customer_id", "state", "net_cents", "currency"],
    version = 2,
    migrate = _migrate,
)`)
	editFile(t, dir, "models/order.star", `SalesOrder = model(`, `def _migrate(fields, from_version):
    # Version 2 records the currency; every order before it was in euros.
    fields["currency"] = "EUR"
    return fields

SalesOrder = model(`)
	editFile(t, dir, "lib/present.star", `"tax_exempt": o.tax_exempt,
        "lines": lines,`, `"tax_exempt": o.tax_exempt,
        "lines": lines, "currency": o.currency,`)
	editFile(t, dir, "api/orders.star", `ROUTES = {`, `load("models/order.star", "SalesOrder")

def _by_currency(req, login):
    return {"count": db.query(SalesOrder).where("currency", "==", req.params["c"]).count()}

ROUTES = {
    "GET /api/orders/currency/{c}": api(_by_currency),`)
	n.cli(t, "push", dir, "-m", "Orders record their currency (version 2)", "--wait")

	var o struct {
		Currency string `json:"currency"`
	}
	sales.apiJSON("GET", "/api/orders/"+before[0], nil, 200, &o)
	if o.Currency != "EUR" {
		t.Fatalf("an order stored at version 1, read after the change: currency %q, want EUR (migrated when read)", o.Currency)
	}
	var count struct{ Count int }
	sales.apiJSON("GET", "/api/orders/currency/EUR", nil, 200, &count)
	if count.Count != 0 {
		t.Fatalf("orders stored with currency EUR before starbase migrate = %d, want 0 (reading upgrades, it does not write)", count.Count)
	}
	out := n.cli(t, "migrate", "models/order.star:SalesOrder")
	if want := fmt.Sprintf("%d objects visited", stored); !strings.Contains(out, want) {
		t.Fatalf("starbase migrate printed %q, want %q", out, want)
	}
	sales.apiJSON("GET", "/api/orders/currency/EUR", nil, 200, &count)
	if count.Count != stored {
		t.Fatalf("orders stored with currency EUR after starbase migrate = %d, want all %d", count.Count, stored)
	}
	// The workflow still runs on a migrated order.
	var done erpOrder
	sales.apiJSON("POST", "/api/orders/"+before[1]+"/confirm", nil, 200, &done)
	if done.State != "confirmed" {
		t.Fatalf("confirming a migrated order: state %s", done.State)
	}
}

func TestE2E_DemoNamesTheExamplesWhenUnknown(t *testing.T) {
	cmd := exec.Command(binary(t), "serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--demo=nope")
	cmd.Env = append(os.Environ(), "STARBASE_ADMIN_TOKEN="+e2eToken)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), `no example app "nope" (there are: demo, erp, guestbook)`) {
		t.Fatalf("serve --demo=nope: err=%v output=%q, want a refusal naming the examples", err, out)
	}
}

// Lists page by the data tier's cursor (20 a page) and search by name prefix, in the HTML
// pages and in the API alike.
func TestE2E_ERP_ListsPageAndSearch(t *testing.T) {
	n := startERP(t)
	sales := erpLogin(t, n, "sales", "sales-demo")
	for i := range 23 {
		sales.newCustomer(fmt.Sprintf("Paged %02d", i))
	}
	var names []string
	cursor := ""
	for pages := 0; ; pages++ {
		var page struct {
			Items  []struct{ Name string }
			Cursor *string
		}
		sales.apiJSON("GET", "/api/customers?q=paged&cursor="+url.QueryEscape(cursor), nil, 200, &page)
		if pages == 0 && len(page.Items) != 20 {
			t.Fatalf("first page has %d customers, want 20", len(page.Items))
		}
		for _, c := range page.Items {
			names = append(names, c.Name)
		}
		if page.Cursor == nil {
			break
		}
		cursor = *page.Cursor
		if pages > 5 {
			t.Fatal("paging does not end")
		}
	}
	if len(names) != 23 || names[0] != "Paged 00" || names[22] != "Paged 22" {
		t.Fatalf("paged through %d customers %v, want Paged 00 to Paged 22 in order", len(names), names)
	}

	html := sales.page("/customers?q=PAGED")
	if got := strings.Count(html, `<tr><td><a href="/customers/`); got != 20 {
		t.Fatalf("the customers page lists %d rows, want 20", got)
	}
	m := regexp.MustCompile(`<a rel="next" href="([^"]+)"`).FindStringSubmatch(html)
	if m == nil {
		t.Fatal("the first page of 23 customers has no link to the next")
	}
	next := sales.page(strings.ReplaceAll(m[1], "&amp;", "&"))
	if got := strings.Count(next, `<tr><td><a href="/customers/`); got != 3 || !strings.Contains(next, "Paged 22") || strings.Contains(next, `rel="next"`) {
		t.Fatalf("the second page lists %d rows, want the last 3 and no next link", got)
	}
	if resp, _ := sales.do("GET", "/customers?cursor=%3Cnot%20a%20cursor%3E", "", "", false); resp.StatusCode != 400 {
		t.Errorf("a list with a mistyped cursor = %d, want 400", resp.StatusCode)
	}
	if page := sales.page("/customers?q=acme"); !strings.Contains(page, "Acme Tools") || strings.Contains(page, "Paged") {
		t.Fatal("searching acme does not list exactly Acme Tools")
	}
	if page := sales.page("/orders?state=confirmed"); !strings.Contains(page, "SO-00002") || strings.Contains(page, "SO-00001") {
		t.Fatal("the orders of state confirmed are not the seeded confirmed order alone")
	}
}
