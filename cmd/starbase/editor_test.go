package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/starbase/starbase/ui"
)

// The editor's browser tests drive the built binary's /-/ui/ in a real headless Chromium
// (Debian's chromium package, which test.sh installs), through the Chrome DevTools
// protocol. Every test fails on any script exception, console error or warning, or
// browser-reported error (CSP violations included) other than the network log of HTTP
// statuses the editor handles.

// screenshotPath is the screenshot of the editor shown in the README, and its version
// file the ui.Version of the build it shows.
const screenshotPath = "../../ui/screenshot.png"

// browserTimeout bounds each step of a browser test (generous: CI is a busy machine).
const browserTimeout = 60 * time.Second

func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("STARBASE_BROWSER_TESTS") == "require" {
		t.Fatal("no chromium found: install it (apt-get install chromium), as test.sh does")
	}
	t.Skip("no chromium found; test.sh installs it (apt-get install chromium) and requires these tests")
	return ""
}

// browser is one headless Chromium with a fresh profile, and the errors its pages reported.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu     sync.Mutex
	errors []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 800),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	b := &browser{t: t, ctx: ctx}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	b.listen(ctx)
	return b
}

// listen records the errors reported by the page of ctx: exceptions, console errors and
// warnings, and browser log entries (CSP violations among them), except the network log of
// HTTP statuses, which the editor handles (a conflict answers 409).
func (b *browser) listen(ctx context.Context) {
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || (m.Type == "error" || m.Type == "warning" || m.Type == "assert") && m.Source != "network" {
				b.mu.Lock()
				b.errors = append(b.errors, fmt.Sprintf("%s (%s %s:%d)", m, m.Source, m.URL, m.Line))
				b.mu.Unlock()
			}
		}
	}()
}

// tab opens another tab of the same browser (same profile and cookies).
func (b *browser) tab() context.Context {
	ctx, cancel := chromedp.NewContext(b.ctx)
	b.t.Cleanup(cancel)
	b.listen(ctx)
	return ctx
}

// run runs steps on ctx within browserTimeout, failing the test with the step that failed.
func (b *browser) run(ctx context.Context, step string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	tctx, cancel := context.WithTimeout(ctx, browserTimeout)
	defer cancel()
	if err := chromedp.Do(tctx, steps...); err != nil {
		b.fail(step, err)
	}
}

// value runs a on the browser's first tab and returns its value.
func value[T any](b *browser, step string, a chromedp.Action[T]) T {
	b.t.Helper()
	tctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	v, err := chromedp.Run(tctx, a)
	if err != nil {
		b.fail(step, err)
	}
	return v
}

func (b *browser) fail(step string, err error) {
	b.t.Helper()
	page, _ := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("body")))
	b.mu.Lock()
	defer b.mu.Unlock()
	b.t.Fatalf("%s: %v\npage text:\n%s\nbrowser errors: %v", step, err, page, b.errors)
}

// noErrors fails the test if any page reported an error.
func (b *browser) noErrors() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.errors) > 0 {
		b.t.Errorf("the browser reported %d error(s):\n%s", len(b.errors), strings.Join(b.errors, "\n"))
	}
}

// waitJS polls expr (a JavaScript expression) until it is true.
func waitJS(expr string) chromedp.Action[chromedp.Void] {
	poll := chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(browserTimeout))
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := poll(ctx, t)
		return chromedp.Void{}, err
	}
}

// insertText inserts text as an input method would (a synthesized Enter key inserts its
// newline twice in a contenteditable that handles the key itself).
func insertText(text string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, input.InsertText, input.InsertTextParams{Text: text})
		return err
	})
}

// js runs a JavaScript statement on the page.
func js(stmt string) chromedp.Action[chromedp.Void] {
	eval := chromedp.Evaluate[bool](stmt + "; true")
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := eval(ctx, t)
		return chromedp.Void{}, err
	}
}

func click(sel string) chromedp.Action[chromedp.Void] { return chromedp.Click(chromedp.CSS(sel)) }
func visible(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(sel))
}
func text(sel string) chromedp.Action[string] { return chromedp.Text(chromedp.CSS(sel)) }
func count(sel string) chromedp.Action[int] {
	return chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel))
}

// login logs the browser in with secret and waits for the file tree.
func (b *browser) login(n *node, secret string) {
	b.run(b.ctx, "log in",
		chromedp.Navigate(n.url+"/-/ui/"),
		visible("#token"),
		chromedp.SendKeys(chromedp.CSS("#token"), secret),
		click("#login"),
		visible("#tree li.file"))
}

// createToken makes a token with role through the CLI and returns its secret.
func createToken(t *testing.T, n *node, name, role string) string {
	t.Helper()
	return strings.TrimSpace(n.cli(t, "token", "create", "--name", name, "--role", role))
}

// lineOf is the 1-based line of the editor holding the element matched by sel (0: none).
func lineOf(sel string) chromedp.Action[int] {
	return chromedp.Evaluate[int](fmt.Sprintf(`(() => { const el = document.querySelector(%q); if (!el) return 0;
		const line = el.closest('.cm-line') || el; const lines = [...document.querySelectorAll('.cm-content > .cm-line')];
		return lines.indexOf(line) + 1; })()`, sel))
}

// editorText is the active editor's text.
const editorText = `[...document.querySelectorAll('.cm-content > .cm-line')].map(l => l.textContent).join('\n')`

// demoApp is the app the browser tests edit: lib/greet.star's greeting is on line 4, and
// /boom fails on line 7.
var demoApp = map[string]string{
	"app.star":         "load(\"lib/greet.star\", \"greeting\", \"boom\")\n\ndef index(req):\n    return greeting()\n\nroutes = {\"GET /\": index, \"GET /boom\": boom}\n",
	"lib/greet.star":   "# Greetings.\n\ndef greeting():\n    return \"hello v1\"\n\ndef boom(req):\n    return {}[\"missing\"]\n",
	"static/style.css": "body { color: #222; }\n",
}

func TestEditor_EditCheckCommitHistoryDiffRevert(t *testing.T) {
	b := newBrowser(t)
	n := startServe(t, t.TempDir())
	src := t.TempDir()
	writeTree(t, src, demoApp)
	first := lastLine(n.cli(t, "push", src, "-m", "first", "--wait"))
	n.waitBody(t, "/", "hello v1")
	b.login(n, createToken(t, n, "dana", "developer"))

	// Open the module and introduce an error on line 4: the check marks that line.
	b.run(b.ctx, "open lib/greet.star",
		click(`#tree li[data-path="lib/greet.star"] .name`),
		waitJS(`document.querySelector('.tab.active')?.dataset.path === 'lib/greet.star'`),
		waitJS(editorText+`.includes('hello v1')`))
	b.run(b.ctx, "introduce an error",
		click(`.cm-content > .cm-line:nth-child(4)`),
		chromedp.KeyEvent(kb.End),
		chromedp.KeyEvent(kb.Backspace+kb.Backspace+kb.Backspace),
		chromedp.KeyEvent(`v2" + undefined_name`),
		// Checking runs as the user types: on a loaded machine a check may see the name
		// half typed ("undefined_na"), so wait for the check of the whole line.
		waitJS(`!!document.querySelector('.cm-lintRange-error') && !!document.querySelector('li.problem[data-path="lib/greet.star"][data-line="4"]')?.textContent.includes('undefined_name')`))
	if line := value(b, "the marker's line", lineOf(".cm-lintRange-error")); line != 4 {
		t.Fatalf("the error marker is on line %d, want 4", line)
	}
	if problem := value(b, "the problem", text(`li.problem[data-path="lib/greet.star"][data-line="4"]`)); !strings.Contains(problem, "undefined_name") {
		t.Fatalf("problem = %q, want it to name undefined_name", problem)
	}
	// The pending change survives a reload, marked.
	b.run(b.ctx, "reload with a pending change",
		chromedp.Reload(),
		visible(`#tree li.changed[data-path="lib/greet.star"] .marker`),
		waitJS(`document.querySelector('#changes').textContent.includes('1 unsaved change')`))

	// Fix it, commit, and see the app serve the change.
	b.run(b.ctx, "fix the error",
		click(`#tree li[data-path="lib/greet.star"] .name`),
		waitJS(editorText+`.includes('undefined_name')`),
		click(`.cm-content > .cm-line:nth-child(4)`),
		chromedp.KeyEvent(kb.End),
		chromedp.KeyEvent(strings.Repeat(kb.Backspace, len(` + undefined_name`))),
		waitJS(`document.querySelector('#problems-head').textContent.startsWith('No problems')`),
		waitJS(`!document.querySelector('.cm-lintRange-error')`))
	b.run(b.ctx, "commit",
		click("#commit"),
		visible("#dialog-input"),
		click("#dialog-ok"),
		waitJS(`document.querySelector('#toast').textContent.startsWith('Committed')`),
		waitJS(`document.querySelector('#changes').textContent === ''`))
	app := b.tab()
	b.waitServed(app, n.url+"/", "hello v2")
	if log := n.cli(t, "log"); !strings.Contains(log, "dana") || !strings.Contains(log, "Edit lib/greet.star") {
		t.Fatalf("log = %q, want the editor's commit by dana", log)
	}
	b.screenshot()

	// History and the diff of the last commit.
	b.run(b.ctx, "history and diff",
		click("#nav-history"),
		waitJS(`document.querySelectorAll('#history tbody tr').length === 2`),
		click(`#history tbody tr:first-child a.button`),
		visible("#diff"))
	if diff := value(b, "the diff", text("#diff")); !strings.Contains(diff, `-    return "hello v1"`) || !strings.Contains(diff, `+    return "hello v2"`) {
		t.Fatalf("diff = %q, want the greeting's change", diff)
	}

	// Revert to the first commit, and see the old output served.
	b.run(b.ctx, "revert",
		click("#nav-history"),
		visible(fmt.Sprintf(`#history tr[data-commit=%q] button.revert`, first)),
		click(fmt.Sprintf(`#history tr[data-commit=%q] button.revert`, first)),
		click("#dialog-ok"),
		waitJS(`document.querySelector('#toast').textContent.startsWith('Reverted')`))
	b.waitServed(app, n.url+"/", "hello v1")

	// A --dev traceback link (its form pinned by server's TestServer_DevModeErrorPageLinksEveryFrameToTheEditor)
	// opens the file at that line of that commit, read-only.
	b.run(b.ctx, "open an editor link",
		chromedp.Navigate(n.url+"/-/ui/#/edit/lib/greet.star?line=7&commit="+first),
		waitJS(`!!document.querySelector('.cm-target-line')`))
	line := value(b, "the linked line", lineOf(".cm-target-line"))
	title := value(b, "the tab", chromedp.AttributeValue(chromedp.CSS(".tab.active"), "title"))
	if line != 7 || !strings.Contains(title.Value, first) {
		t.Fatalf("the link opened line %d of %q, want line 7 of commit %s", line, title.Value, first)
	}
	b.noErrors()
}

// waitServed loads url in the tab ctx until its text is want: the node serves a commit
// moments after it is made.
func (b *browser) waitServed(ctx context.Context, url, want string) {
	b.t.Helper()
	deadline := time.Now().Add(browserTimeout)
	for {
		b.run(ctx, "load "+url, chromedp.Navigate(url))
		tctx, cancel := context.WithTimeout(ctx, browserTimeout)
		got, err := chromedp.Run(tctx, text("body"))
		cancel()
		if err == nil && strings.TrimSpace(got) == want {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s shows %q (%v), want %q", url, got, err, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// screenshot captures the editor for the README; the committed one must show this build.
func (b *browser) screenshot() {
	b.t.Helper()
	version := ui.Version()
	if os.Getenv("STARBASE_UPDATE_SCREENSHOT") != "" {
		png := value(b, "screenshot", chromedp.CaptureScreenshot())
		if err := os.WriteFile(screenshotPath, png, 0o644); err != nil {
			b.t.Fatal(err)
		}
		if err := os.WriteFile(screenshotPath+".version", []byte(version+"\n"), 0o644); err != nil {
			b.t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(screenshotPath + ".version")
	if err != nil || strings.TrimSpace(string(got)) != version {
		b.t.Errorf("%s shows editor build %q, not the current build %s: regenerate it with\n  STARBASE_UPDATE_SCREENSHOT=1 go test -run TestEditor_EditCheckCommitHistoryDiffRevert ./cmd/starbase",
			filepath.Base(screenshotPath), strings.TrimSpace(string(got)), version)
	}
}

func TestEditor_ConcurrentCommitShowsConflictAndLosesNothing(t *testing.T) {
	b := newBrowser(t)
	n := startServe(t, t.TempDir())
	src := t.TempDir()
	writeTree(t, src, demoApp)
	n.cli(t, "push", src, "-m", "first")
	b.login(n, createToken(t, n, "erin", "developer"))

	// Unsaved edit in the editor: line 4 of lib/greet.star.
	b.run(b.ctx, "edit",
		click(`#tree li[data-path="lib/greet.star"] .name`),
		waitJS(editorText+`.includes('hello v1')`),
		click(`.cm-content > .cm-line:nth-child(4)`),
		chromedp.KeyEvent(kb.End),
		chromedp.KeyEvent(kb.Backspace+kb.Backspace+kb.Backspace),
		chromedp.KeyEvent(`from the editor"`),
		waitJS(`document.querySelector('#changes').textContent.includes('1 unsaved change')`))

	// Meanwhile, a commit through the CLI changes line 1 of the same file.
	writeTree(t, src, map[string]string{"lib/greet.star": strings.Replace(demoApp["lib/greet.star"], "# Greetings.", "# Greetings, changed by the CLI.", 1)})
	cliCommit := lastLine(n.cli(t, "push", src, "-m", "from the CLI"))

	sel := `.conflict-file[data-path="lib/greet.star"].both `
	b.run(b.ctx, "commit meets the conflict view", click("#commit"), visible("#rebase"), visible(sel+".merged"))
	theirs := value(b, "theirs", text(sel+".theirs"))
	yours := value(b, "yours", text(sel+".yours"))
	merged := value(b, "merged", text(sel+".merged"))
	if !strings.Contains(theirs, "+ # Greetings, changed by the CLI.") || !strings.Contains(yours, `+     return "hello from the editor"`) {
		t.Fatalf("conflict view: theirs %q, yours %q; want each side's change", theirs, yours)
	}
	if !strings.Contains(merged, "changed by the CLI") || !strings.Contains(merged, "hello from the editor") {
		t.Fatalf("three-way merge %q lacks a side", merged)
	}
	// Nothing was overwritten: main still has the CLI's commit.
	if head := strings.Fields(n.cli(t, "log"))[0]; !strings.HasPrefix(cliCommit, head) && !strings.HasPrefix(head, cliCommit) {
		t.Fatalf("main is at %s, want the CLI's commit %s", head, cliCommit)
	}

	b.run(b.ctx, "rebase and commit",
		click("#rebase"),
		waitJS(`document.querySelector('#toast').textContent.startsWith('Rebased')`),
		waitJS(`document.querySelector('#problems-head').textContent.startsWith('No problems')`),
		click("#commit"),
		visible("#dialog-input"),
		click("#dialog-ok"),
		waitJS(`document.querySelector('#toast').textContent.startsWith('Committed')`))
	pulled := t.TempDir()
	n.cli(t, "pull", pulled)
	got, err := os.ReadFile(filepath.Join(pulled, "lib/greet.star"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got), "changed by the CLI") || !strings.Contains(string(got), "hello from the editor") {
		t.Fatalf("after rebase and commit lib/greet.star = %q, want both changes", got)
	}
	b.noErrors()
}

func TestEditor_ErrorIDOpensFailingLine(t *testing.T) {
	b := newBrowser(t)
	n := startServe(t, t.TempDir()) // production: clients see only an error id
	src := t.TempDir()
	writeTree(t, src, demoApp)
	n.cli(t, "push", src, "-m", "first", "--wait")
	resp, err := http.Get(n.url + "/boom")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`error id ([0-9a-f]+)`).FindSubmatch(body)
	if resp.StatusCode != 500 || m == nil {
		t.Fatalf("GET /boom = %d %q, want a 500 naming an error id", resp.StatusCode, body)
	}
	if strings.Contains(string(body), "greet.star") {
		t.Fatalf("the production client was shown the source: %q", body)
	}

	b.login(n, createToken(t, n, "fay", "developer"))
	b.run(b.ctx, "look the error id up",
		click("#nav-errors"),
		visible("#error-id"),
		chromedp.SendKeys(chromedp.CSS("#error-id"), string(m[1])),
		click("#lookup"),
		visible("#error-detail"))
	if detail := value(b, "the error", text("#error-detail")); !strings.Contains(detail, "missing") || !strings.Contains(detail, "lib/greet.star:7") {
		t.Fatalf("error detail = %q, want the key error at lib/greet.star:7", detail)
	}
	b.run(b.ctx, "open the failing frame",
		click("#error-detail li:last-child a.frame-link"),
		waitJS(`document.querySelector('.tab.active')?.dataset.path === 'lib/greet.star'`),
		waitJS(`!!document.querySelector('.cm-target-line')`))
	if line := value(b, "the opened line", lineOf(".cm-target-line")); line != 7 {
		t.Fatalf("the error's frame opened line %d, want 7", line)
	}
	b.noErrors()
}

func TestEditor_ReaderCannotCommit(t *testing.T) {
	b := newBrowser(t)
	n := startServe(t, t.TempDir())
	src := t.TempDir()
	writeTree(t, src, demoApp)
	n.cli(t, "push", src, "-m", "first")
	b.login(n, createToken(t, n, "gil", "reader"))
	b.run(b.ctx, "a reader browses",
		click(`#tree li[data-path="lib/greet.star"] .name`),
		waitJS(editorText+`.includes('hello v1')`))
	controls := value(b, "controls", count("#commit, #check, #new-file, .tree .actions"))
	editable := value(b, "editable", chromedp.AttributeValue(chromedp.CSS(".cm-content"), "contenteditable"))
	if controls != 0 || editable.Value != "false" {
		t.Fatalf("a reader is offered %d commit/check/edit controls and contenteditable=%q", controls, editable.Value)
	}
	b.run(b.ctx, "a reader sees history",
		click("#nav-history"),
		waitJS(`document.querySelectorAll('#history tbody tr').length === 1`))
	if n := value(b, "revert buttons", count("button.revert")); n != 0 {
		t.Fatal("a reader is offered revert")
	}
	// The page offering nothing is not the protection: the session itself cannot push.
	status := value(b, "a reader's push", chromedp.Evaluate[int](`fetch('/-/api/session').then(r => r.json()).then(s =>
		fetch('/-/api/push', {method: 'POST', headers: {'Content-Type': 'application/json', 'X-CSRF-Token': s.csrf},
			body: JSON.stringify({expected: '', force: true, files: {}})})).then(r => r.status)`, chromedp.EvalAwaitPromise))
	if status != http.StatusForbidden {
		t.Fatalf("a reader's push answered %d, want 403", status)
	}
	b.noErrors()
}

// pick waits for the completion list to offer label first, and picks it with the mouse (a
// synthesized Enter would also insert a newline) until the editor holds it. On a busy
// machine the list may close before it is seen, or move under the click: then it is asked
// for again with Ctrl-Space, as a user would, after putting the focus back in the editor
// when it left (a click that missed the list leaves it on the page's body).
func pick(label string) chromedp.Action[chromedp.Void] {
	offered := fmt.Sprintf(`document.querySelector('.cm-tooltip-autocomplete li[aria-selected] .cm-completionLabel')?.textContent === %q`, label)
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		// notOffered says what the page shows when the step's time ran out in any action
		// of the loop: the focus and the completion list, its selected item starred.
		notOffered := func(err error) error {
			state, _ := chromedp.Evaluate[string](`JSON.stringify({focus: document.hasFocus(), active: document.activeElement?.tagName + '.' + document.activeElement?.className + '#' + document.activeElement?.id,
				list: [...document.querySelectorAll('.cm-tooltip-autocomplete li')].map(li => (li.hasAttribute('aria-selected') ? '*' : '') + li.textContent)})`)(context.WithoutCancel(ctx), t)
			return fmt.Errorf("the completion list never offered %q first (%s): %w", label, state, err)
		}
		// applied: the editor holds the label, so the click took (none of the labels
		// picked is in the text before).
		applied := fmt.Sprintf(`(%s).includes(%q)`, editorText, label)
		poll := func(cond string) error {
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			_, err := chromedp.Poll[bool](cond, chromedp.WithPollingInterval(50*time.Millisecond))(pctx, t)
			return err
		}
		for {
			if poll(offered) == nil {
				// The list may move or close between the click's reading of the item's
				// box and the mouse event, which then lands elsewhere and takes the focus
				// from the editor (a CI-loop failure: the keys typed next were lost).
				if _, err := click(".cm-tooltip-autocomplete li[aria-selected]")(ctx, t); err == nil && poll(applied) == nil {
					return nil
				}
			}
			if ctx.Err() != nil {
				return notOffered(ctx.Err())
			}
			if _, err := js(`document.querySelector('.cm-editor.cm-focused') || document.querySelector('.cm-content').focus()`)(ctx, t); err != nil {
				return notOffered(err)
			}
			if _, err := chromedp.KeyEvent(" ", chromedp.KeyModifiers(chromedp.ModifierCtrl))(ctx, t); err != nil {
				return notOffered(err)
			}
		}
	})
}

func TestEditor_FilesCompletionSearchAndGoToFile(t *testing.T) {
	b := newBrowser(t)
	n := startServe(t, t.TempDir())
	src := t.TempDir()
	writeTree(t, src, demoApp)
	n.cli(t, "push", src, "-m", "first")
	b.login(n, createToken(t, n, "hal", "developer"))

	// A new file, with completion of load() paths, predeclared names and their members.
	b.run(b.ctx, "create a file",
		click("#new-file"),
		visible("#dialog-input"),
		chromedp.KeyEvent("lib/extra.star"),
		click("#dialog-ok"),
		waitJS(`document.querySelector('.tab.active')?.dataset.path === 'lib/extra.star'`),
		visible(`#tree li.changed[data-path="lib/extra.star"]`),
		click(".cm-content"),
		chromedp.KeyEvent(`load("lib/gr`),
		pick("lib/greet.star"),
		chromedp.KeyEvent(`", "gree`),
		pick("greeting"),
		chromedp.KeyEvent(`")`),
		insertText("\n"),
		chromedp.KeyEvent(`x = json.enc`),
		pick("encode"),
		chromedp.KeyEvent(`(greeting())`),
		waitJS(editorText+`.trim() === 'load("lib/greet.star", "greeting")\nx = json.encode(greeting())'`),
		waitJS(`document.querySelector('#problems-head').textContent.startsWith('No problems')`))

	// Go to the definition of a loaded name.
	b.run(b.ctx, "go to definition",
		click(".cm-content > .cm-line:nth-child(2)"),
		chromedp.KeyEvent(kb.End),
		chromedp.KeyEvent(kb.ArrowLeft+kb.ArrowLeft+kb.ArrowLeft),
		chromedp.KeyEvent(kb.F12),
		waitJS(`document.querySelector('.tab.active')?.dataset.path === 'lib/greet.star'`),
		waitJS(`!!document.querySelector('.cm-target-line')`))
	if line := value(b, "definition line", lineOf(".cm-target-line")); line != 3 {
		t.Fatalf("go to definition opened line %d of lib/greet.star, want 3 (def greeting)", line)
	}

	// Rename, then delete: the file never committed leaves no pending change.
	b.run(b.ctx, "rename",
		js(`document.querySelector('#tree li[data-path="lib/extra.star"] button[title="Rename"]').click()`),
		visible("#dialog-input"),
		js(`document.querySelector('#dialog-input').value = 'lib/more.star'`),
		click("#dialog-ok"),
		visible(`#tree li.changed[data-path="lib/more.star"]`),
		waitJS(`!document.querySelector('#tree li[data-path="lib/extra.star"]')`),
		js(`document.querySelector('#tree li[data-path="lib/more.star"] button[title="Delete"]').click()`),
		click("#dialog-ok"),
		waitJS(`!document.querySelector('#tree li[data-path="lib/more.star"]')`),
		waitJS(`document.querySelector('#changes').textContent === ''`))

	// Search across files, and go to a file by name.
	b.run(b.ctx, "search",
		click("#search"),
		chromedp.KeyEvent("hello v1"),
		waitJS(`[...document.querySelectorAll('#search-results li')].some(e => e.textContent.startsWith('lib/greet.star:4'))`),
		chromedp.KeyEvent("p", chromedp.KeyModifiers(chromedp.ModifierCtrl)),
		visible("#goto-input"),
		chromedp.KeyEvent("style"+kb.Enter),
		waitJS(`document.querySelector('.tab.active')?.dataset.path === 'static/style.css'`))
	b.noErrors()
}

// loginAt logs the browser in on the origin base (the app's or the editor's) with secret
// and waits for the file tree.
func (b *browser) loginAt(base, secret string) {
	b.run(b.ctx, "log in at "+base,
		chromedp.Navigate(base+"/-/ui/"),
		visible("#token"),
		chromedp.SendKeys(chromedp.CSS("#token"), secret),
		click("#login"),
		visible("#tree li.file"))
}

func TestEditor_AdminStatusOnTheEditorOriginShowsTheAuditOfAPush(t *testing.T) {
	b := newBrowser(t)
	n := startServe(t, t.TempDir(), "--editor-addr", "127.0.0.1:0")
	if n.editorURL == "" || n.editorURL == n.url {
		t.Fatalf("serve --editor-addr printed no editor origin of its own (app %s, editor %q)", n.url, n.editorURL)
	}
	src := t.TempDir()
	writeTree(t, src, demoApp)
	pushed := lastLine(n.cli(t, "push", src, "-m", "first"))

	// An admin on the editor's origin acts as an admin and sees the push in the audit log.
	b.loginAt(n.editorURL, e2eToken)
	row := `#audit tbody tr[data-action="commit"]`
	b.run(b.ctx, "the admin's status view",
		waitJS(`document.querySelector('#user').textContent.endsWith('(admin)')`),
		click("#nav-status"),
		visible("#nodes"),
		visible(row))
	got := value(b, "the push's audit event", text(row))
	if !strings.Contains(got, "commit") || !strings.Contains(got, "main") || !strings.Contains(got, pushed[:10]) {
		t.Fatalf("the audit event of the push reads %q, want a commit of main %s", got, pushed[:10])
	}
	if n := value(b, "the note", count("#audit-note")); n != 0 {
		t.Fatal("an admin on the editor's origin is told the audit log is for admins only")
	}

	// A developer there sees the note instead.
	dev := createToken(t, n, "ivy", "developer")
	b.run(b.ctx, "log out", click("#logout"), visible("#token"))
	b.loginAt(n.editorURL, dev)
	b.run(b.ctx, "a developer's status view", click("#nav-status"), visible("#audit-note"))
	if note := value(b, "the note", text("#audit-note")); !strings.Contains(note, "Admins only") {
		t.Fatalf("a developer's note reads %q, want admins only", note)
	}
	if n := value(b, "audit table", count("#audit")); n != 0 {
		t.Fatal("a developer is shown the audit log")
	}

	// On the app's origin the admin's token makes a developer's session, told where to go.
	b.loginAt(n.url, e2eToken)
	b.run(b.ctx, "the admin's status view on the app's origin",
		waitJS(`document.querySelector('#user').textContent.endsWith('(developer)')`),
		click("#nav-status"),
		visible("#audit-note"))
	if note := value(b, "the note", text("#audit-note")); !strings.Contains(note, "Admins only") || !strings.Contains(note, "--editor-addr") {
		t.Fatalf("the app origin's note reads %q, want admins only and where an admin sees it", note)
	}
	b.noErrors()
}

func TestEditor_ConflictTakesMineOrTheirsPerFile(t *testing.T) {
	b := newBrowser(t)
	n := startServe(t, t.TempDir())
	src := t.TempDir()
	writeTree(t, src, demoApp)
	n.cli(t, "push", src, "-m", "first")
	b.login(n, createToken(t, n, "jo", "developer"))

	// Unsaved edits of two files in the editor.
	b.run(b.ctx, "edit lib/greet.star",
		click(`#tree li[data-path="lib/greet.star"] .name`),
		waitJS(editorText+`.includes('hello v1')`),
		click(`.cm-content > .cm-line:nth-child(4)`),
		chromedp.KeyEvent(kb.End),
		chromedp.KeyEvent(kb.Backspace+kb.Backspace+kb.Backspace),
		chromedp.KeyEvent(`from the editor"`),
		waitJS(editorText+`.includes('"hello from the editor"')`))
	b.run(b.ctx, "edit static/style.css",
		click(`#tree li[data-path="static/style.css"] .name`),
		waitJS(`document.querySelector('.tab.active')?.dataset.path === 'static/style.css'`),
		click(`.cm-content > .cm-line:nth-child(1)`),
		chromedp.KeyEvent(kb.End),
		insertText(" /* the editor's */"),
		waitJS(`document.querySelector('#changes').textContent.includes('2 unsaved changes')`))

	// Meanwhile the CLI changes the same line of lib/greet.star, and static/style.css.
	cliGreet := strings.Replace(demoApp["lib/greet.star"], "hello v1", "hello from the CLI", 1)
	cliStyle := "body { color: #c00; }\n"
	writeTree(t, src, map[string]string{"lib/greet.star": cliGreet, "static/style.css": cliStyle})
	n.cli(t, "push", src, "-m", "from the CLI")

	greet, style := `.conflict-file[data-path="lib/greet.star"]`, `.conflict-file[data-path="static/style.css"]`
	b.run(b.ctx, "the conflict view", click("#commit"), visible("#rebase"), visible(greet+".both .merged"), visible(style+".both .merged"))
	if merged := value(b, "the merge", text(greet+" .merged h4")); !strings.Contains(merged, "1 conflict") {
		t.Fatalf("the merge of lib/greet.star is titled %q, want one conflict", merged)
	}
	b.run(b.ctx, "take mine and theirs",
		click(greet+" button.take-mine"),
		click(style+" button.take-theirs"),
		waitJS(`document.querySelector('`+greet+`').dataset.choice === 'mine' && document.querySelector('`+style+`').dataset.choice === 'theirs'`))
	if c := value(b, "the choice", text(style+" .choice")); !strings.Contains(c, "their version") {
		t.Fatalf("taking theirs says %q", c)
	}
	b.run(b.ctx, "rebase and commit",
		click("#rebase"),
		waitJS(`document.querySelector('#toast').textContent.startsWith('Rebased')`),
		waitJS(`document.querySelector('#changes').textContent.includes('1 unsaved change')`),
		waitJS(`document.querySelector('#problems-head').textContent.startsWith('No problems')`),
		click("#commit"),
		visible("#dialog-input"),
		click("#dialog-ok"),
		waitJS(`document.querySelector('#toast').textContent.startsWith('Committed')`))

	pulled := t.TempDir()
	n.cli(t, "pull", pulled)
	wantGreet := strings.Replace(demoApp["lib/greet.star"], "hello v1", "hello from the editor", 1)
	for path, want := range map[string]string{"lib/greet.star": wantGreet, "static/style.css": cliStyle} {
		got, err := os.ReadFile(filepath.Join(pulled, path))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("after taking mine for lib/greet.star and theirs for static/style.css, %s = %q, want %q", path, got, want)
		}
	}
	b.noErrors()
}

// The attack the editor's own origin exists for: a developer pushes a page whose script,
// run in the browser of an admin logged in to the editor, tries to use that session. The
// browser sends the editor's cookie (same host, same site); the node refuses every request
// of it, GETs included, and nothing changes.
func TestEditor_AppPagesCannotUseTheAdminsEditorSession(t *testing.T) {
	b := newBrowser(t)
	n := startServe(t, t.TempDir(), "--editor-addr", "127.0.0.1:0")
	src := t.TempDir()
	script := fmt.Sprintf(`(async () => {
  const out = {};
  try { const r = await fetch(%[1]q + "/-/api/audit", {credentials: "include"}); out.read = "read " + r.status; } catch (e) { out.read = "blocked"; }
  try { await fetch(%[1]q + "/-/api/tokens", {method: "POST", credentials: "include", mode: "no-cors",
    headers: {"Content-Type": "text/plain"}, body: JSON.stringify({name: "mallory", role: "admin"})}); out.post = "sent"; } catch (e) { out.post = "blocked"; }
  document.title = "done " + JSON.stringify(out);
})();`, n.editorURL)
	writeTree(t, src, map[string]string{"app.star": fmt.Sprintf(`
PAGE = "<!doctype html><title>waiting</title><script>" + %q + "</script>"

def attack(req):
    return response(PAGE, content_type = "text/html", headers = {
        "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; connect-src *",
    })

routes = {"GET /attack": attack}
`, script)})
	n.cli(t, "push", src, "-m", "a page that reaches for the editor", "--wait")

	b.loginAt(n.editorURL, e2eToken)
	b.run(b.ctx, "the admin's session", waitJS(`document.querySelector('#user').textContent.endsWith('(admin)')`))

	// Another tab of the same browser (same cookies) opens the developer's page. Its
	// failed fetches are what the test expects, so this tab's console is not checked.
	page, cancel := chromedp.NewContext(b.ctx)
	defer cancel()
	// Following the console opens the tab on page itself (not on a step's shorter context,
	// whose end would close it); its messages are drained, not recorded.
	messages := chromedp.Console(page)
	go func() {
		for _, err := range messages {
			if err != nil {
				return
			}
		}
	}()
	b.run(page, "the developer's page", chromedp.Navigate(n.url+"/attack"))
	tctx, cancelT := context.WithTimeout(page, browserTimeout)
	title, err := chromedp.Run(tctx, chromedp.Poll[string](`document.title.startsWith('done') && document.title`,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(browserTimeout)))
	cancelT()
	if err != nil {
		t.Fatalf("the developer's page never finished: %v", err)
	}
	if !strings.Contains(title, `"read":"blocked"`) {
		t.Errorf("the page's script read an answer of the editor's origin: %s", title)
	}

	// The node refused both requests, saying why; no token was made. The first refusal of a
	// source in an interval has a record at once, the next ones a counted record, showing
	// the last one, at the interval's end (10 s): poll for both.
	refused := map[string]bool{}
	for deadline := time.Now().Add(browserTimeout); !refused["GET /-/api/audit"] || !refused["POST /-/api/tokens"]; {
		if time.Now().After(deadline) {
			t.Fatalf("the audit log shows refusals %v, want the page's GET /-/api/audit and POST /-/api/tokens refused as same-site requests", refused)
		}
		time.Sleep(200 * time.Millisecond)
		req, _ := http.NewRequest("GET", n.url+"/-/api/audit?n=50", nil)
		req.Header.Set("Authorization", "Bearer "+e2eToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var audit []struct{ Action, Method, Path, Reason string }
		err = json.NewDecoder(resp.Body).Decode(&audit)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range audit {
			if rec.Action == "refused" && strings.Contains(rec.Reason, "same-site request") {
				refused[rec.Method+" "+rec.Path] = true
			}
		}
	}
	if tokens := n.cli(t, "token", "list"); strings.Contains(tokens, "mallory") {
		t.Fatalf("the page made a token:\n%s", tokens)
	}
	b.noErrors()
}
