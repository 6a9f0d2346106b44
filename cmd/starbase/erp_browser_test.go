package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestE2E_ERP_InTheBrowser runs an order through its whole life in headless Chromium, as
// the two roles would: sales creates and delivers it through the pages' forms, accounting
// invoices it and records the payment. The pages share one layout and the stylesheet
// served from the store, and no page reports an error (CSP violations included).
func TestE2E_ERP_InTheBrowser(t *testing.T) {
	n := startERP(t)
	b := newBrowser(t)
	fill := func(sel, v string) chromedp.Action[chromedp.Void] {
		return js(fmt.Sprintf(`document.querySelector(%q).value = %q`, sel, v))
	}
	pick := func(sel, label string) chromedp.Action[chromedp.Void] {
		return js(fmt.Sprintf(`{ const s = document.querySelector(%q); s.value = [...s.options].find(o => o.text.startsWith(%q)).value }`, sel, label))
	}
	at := func(path string) chromedp.Action[chromedp.Void] {
		return after(fmt.Sprintf(`location.pathname.startsWith(%q) && document.readyState == "complete"`, path))
	}
	logIn := func(user, pw string) {
		b.run(b.ctx, "log in as "+user,
			chromedp.Navigate(n.url+"/orders"),
			at("/login"),
			fill(`input[name="username"]`, user),
			fill(`input[name="password"]`, pw),
			click(`form[action="/login"] button[type="submit"]`),
			at("/orders"),
			visible(".top .who"))
	}

	logIn("sales", "sales-demo")
	// The stylesheet came from the store: the header is laid out by it.
	if got := value(b, "the stylesheet applies", chromedp.Evaluate[string](`getComputedStyle(document.querySelector(".top")).display`)); got != "flex" {
		t.Fatalf("the header's display is %q, want flex (static/erp.css not applied)", got)
	}
	if role := value(b, "role", text(".top .role")); role != "sales" {
		t.Fatalf("the header shows role %q, want sales", role)
	}

	b.run(b.ctx, "a new order, first with a mistake",
		click(`a[href="/orders/new"]`),
		at("/orders/new"),
		pick(`select[name="product_id"]`, "WID-1"),
		fill(`input[name="qty"]`, "0"),
		click(`form[action="/orders"] button[type="submit"]`),
		visible(`.field-error[data-field="customer_id"]`),
		visible(`.field-error[data-field="qty"]`))
	b.run(b.ctx, "the order, corrected",
		pick(`select[name="customer_id"]`, "Initech"),
		pick(`select[name="product_id"]`, "WID-1"),
		fill(`input[name="qty"]`, "3"),
		click(`form[action="/orders"] button[type="submit"]`),
		after(`document.querySelector("#state") && document.querySelector("#state").textContent == "draft"`))
	orderPath := value(b, "order path", chromedp.Evaluate[string](`location.pathname`))
	if total := value(b, "total", text("#total")); total != "45.00" {
		t.Fatalf("total of 3 widgets at 12.50 + 20 %% = %q, want 45.00", total)
	}
	b.run(b.ctx, "confirm, then deliver",
		click(".action-confirm"),
		after(`document.querySelector("#state").textContent == "confirmed"`),
		click(".action-deliver"),
		after(`document.querySelector("#state").textContent == "delivered"`))
	if c := value(b, "sales' actions", count(".action-invoice")); c != 0 {
		t.Fatalf("sales sees %d invoice buttons, want none", c)
	}
	b.run(b.ctx, "log out", click(`form[action="/logout"] button`), at("/login"))

	logIn("accounting", "accounting-demo")
	b.run(b.ctx, "invoice",
		chromedp.Navigate(n.url+orderPath),
		visible(".action-invoice"),
		click(".action-invoice"),
		after(`document.querySelector("#state").textContent == "invoiced"`),
		click(`a[href^="/invoices/"]`),
		at("/invoices/"),
		visible(`form[action$="/payments"]`))
	b.run(b.ctx, "pay in full",
		fill(`input[name="amount"]`, "45.00"),
		click(`form[action$="/payments"] button[type="submit"]`),
		after(`document.querySelector("#state").textContent == "paid"`))
	if bal := value(b, "balance", text("#balance")); bal != "0.00" {
		t.Fatalf("balance after paying in full = %q", bal)
	}
	b.run(b.ctx, "the order is paid",
		chromedp.Navigate(n.url+orderPath),
		after(`document.querySelector("#state").textContent == "paid"`))
	history := value(b, "history", text(".history"))
	for _, want := range []string{"confirm by sales", "deliver by sales", "invoice by accounting", "pay by accounting"} {
		if !strings.Contains(history, want) {
			t.Errorf("history %q lacks %q", history, want)
		}
	}
	b.noErrors()
}

// after polls expr (a JavaScript expression) until it is true, across the navigations a
// form's submission starts: a poll cut off by a navigation (the DevTools protocol's server
// error -32000: the target navigated, its execution context is gone) polls the new page.
func after(expr string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		for {
			_, err := waitJS(expr)(ctx, t)
			if err == nil || !strings.Contains(err.Error(), "(-32000)") || ctx.Err() != nil {
				return chromedp.Void{}, err
			}
		}
	}
}
