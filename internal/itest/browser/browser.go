// Package browser starts headless Chromium for the browser tests (the
// library's, in this module, and the example apps'), and drives its tabs.
package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/macaron-contrib/sockets/internal/testkit"
)

// Find returns the browser to drive. Without one the test is skipped,
// except under CI=true, where it fails.
func Find(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	const msg = "no Chromium found in PATH (looked for chromium, chromium-browser, google-chrome)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI=true needs the browser tests to run")
	}
	t.Skip(msg + ": skipping the browser test")
	return ""
}

// NewAllocator finds Chromium (see Find) and describes a headless one with
// a fresh profile, cut off from the network but for 127.0.0.1, with a
// window of width × height. Nothing starts until the first chromedp action;
// cancelling kills Chromium and waits for it, and the test fails if any of
// its processes outlive the test.
func NewAllocator(t *testing.T, ctx context.Context, width, height int) (context.Context, context.CancelFunc) {
	t.Helper()
	chromium := Find(t)
	dataDir := t.TempDir()
	// Registered after TempDir, so it runs before the directory goes.
	t.Cleanup(func() { noProcessesUsing(t, dataDir) })
	opts := append([]chromedp.ExecAllocatorOption(nil), chromedp.DefaultExecAllocatorOptions[:]...)
	opts = append(opts,
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(dataDir),
		chromedp.WindowSize(width, height),
	)
	return chromedp.NewExecAllocator(ctx, opts...)
}

// JSString quotes s as a JavaScript string literal.
func JSString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// noProcessesUsing fails the test when processes started with dir as their
// user data directory outlive it, and kills them. Linux only: it reads /proc.
func noProcessesUsing(t *testing.T, dir string) {
	want := []byte("--user-data-dir=" + dir + "\x00")
	find := func() []int {
		entries, err := os.ReadDir("/proc")
		if err != nil {
			return nil
		}
		var pids []int
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if err == nil && bytes.Contains(cmdline, want) {
				pids = append(pids, pid)
			}
		}
		return pids
	}
	deadline := time.Now().Add(testkit.Wait)
	for pids := find(); len(pids) > 0; pids = find() {
		if time.Now().After(deadline) {
			for _, pid := range pids {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			t.Errorf("Chromium processes %v outlived the test", pids)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
