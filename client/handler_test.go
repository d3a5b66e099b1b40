package client

import (
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"gopkg.in/macaron.v1"
)

// maxGzipped is the most sockets.js may weigh once compressed as a server
// would (gzip, best compression).
const maxGzipped = 3 * 1024

func TestScriptSize(t *testing.T) {
	var b bytes.Buffer
	w, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(script)
	w.Close()
	t.Logf("sockets.js: %d bytes, %d gzipped", len(script), b.Len())
	if b.Len() > maxGzipped {
		t.Errorf("sockets.js is %d bytes gzipped, more than %d", b.Len(), maxGzipped)
	}
}

// TestScriptNeverWritesHTML: the script hands frames over as data; nothing
// in it parses HTML or runs text as code.
func TestScriptNeverWritesHTML(t *testing.T) {
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "createElement", "DOMParser"} {
		if bytes.Contains(script, []byte(bad)) {
			t.Errorf("sockets.js contains %q", bad)
		}
	}
}

// TestEmbeddedIsTheFile: what is served is the file in the repository.
func TestEmbeddedIsTheFile(t *testing.T) {
	for name, embedded := range map[string][]byte{"sockets.js": script, "sockets.d.ts": types} {
		onDisk, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(onDisk, embedded) {
			t.Errorf("the embedded %s differs from the file", name)
		}
	}
	if !bytes.Equal(Script(), script) {
		t.Error("Script() differs from sockets.js")
	}
}

func TestIntegrity(t *testing.T) {
	onDisk, err := os.ReadFile("sockets.js")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha512.Sum384(onDisk)
	want := "sha384-" + base64.StdEncoding.EncodeToString(sum[:])
	if got := Integrity(); got != want {
		t.Errorf("Integrity() = %q, want %q", got, want)
	}
	// And it is the hash of what a browser gets.
	rec := get(t, "/sockets.js", nil)
	sum = sha512.Sum384(rec.Body.Bytes())
	if served := "sha384-" + base64.StdEncoding.EncodeToString(sum[:]); served != Integrity() {
		t.Errorf("the served script hashes to %q, Integrity() says %q", served, Integrity())
	}
}

// get asks a Macaron app with the handler mounted as the README says.
func get(t *testing.T, target string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	return request(t, http.MethodGet, target, header)
}

func request(t *testing.T, method, target string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	m := macaron.New()
	m.Get("/sockets.js", Handler())
	m.Get("/sockets.d.ts", Handler())
	m.Route("/any/sockets.js", "GET,HEAD,POST,PUT", Handler())
	r := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		r.Header[k] = v
	}
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, r)
	return rec
}

func TestHandler(t *testing.T) {
	rec := get(t, "/sockets.js", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	h := rec.Header()
	for k, want := range map[string]string{
		"Content-Type":           "text/javascript; charset=utf-8",
		"Cache-Control":          "no-cache",
		"X-Content-Type-Options": "nosniff",
		"ETag":                   `"` + Version() + `"`,
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if !bytes.Equal(rec.Body.Bytes(), script) {
		t.Error("the body is not sockets.js")
	}
	if len(Version()) != 24 || strings.Trim(Version(), "0123456789abcdef") != "" {
		t.Errorf("Version() = %q, want 24 hex digits", Version())
	}
	etag := h.Get("ETag")
	if strings.HasPrefix(etag, "W/") {
		t.Errorf("ETag %s is weak", etag)
	}

	// Revalidation.
	for _, inm := range []string{etag, `"other", ` + etag, "*"} {
		rec := get(t, "/sockets.js", http.Header{"If-None-Match": {inm}})
		if rec.Code != http.StatusNotModified {
			t.Errorf("If-None-Match %s: status %d, want 304", inm, rec.Code)
		}
		if rec.Body.Len() != 0 {
			t.Errorf("If-None-Match %s: a body of %d bytes with 304", inm, rec.Body.Len())
		}
		if got := rec.Header().Get("ETag"); got != etag {
			t.Errorf("If-None-Match %s: 304 with ETag %q, want %q", inm, got, etag)
		}
		if got := rec.Header().Get("Cache-Control"); got != "no-cache" {
			t.Errorf("If-None-Match %s: 304 with Cache-Control %q", inm, got)
		}
	}
	if rec := get(t, "/sockets.js", http.Header{"If-None-Match": {`"stale"`}}); rec.Code != http.StatusOK || rec.Body.Len() != len(script) {
		t.Errorf("a stale If-None-Match: status %d, %d bytes; want 200 and the script", rec.Code, rec.Body.Len())
	}

	// The versioned URL is cached for good; another version's is not.
	if got := get(t, "/sockets.js?v="+Version(), nil).Header().Get("Cache-Control"); got != immutable {
		t.Errorf("?v=Version(): Cache-Control %q, want %q", got, immutable)
	}
	if got := get(t, "/sockets.js?v=0123456789abcdef01234567", nil).Header().Get("Cache-Control"); got != "no-cache" {
		t.Errorf("?v= of another version: Cache-Control %q, want no-cache", got)
	}

	// HEAD: the headers alone.
	head := request(t, http.MethodHead, "/any/sockets.js", nil)
	if head.Code != http.StatusOK || head.Body.Len() != 0 || head.Header().Get("ETag") != etag {
		t.Errorf("HEAD: status %d, %d bytes, ETag %q", head.Code, head.Body.Len(), head.Header().Get("ETag"))
	}
	for _, method := range []string{http.MethodPost, http.MethodPut} {
		rec := request(t, method, "/any/sockets.js", nil)
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: status %d, Allow %q; want 405, GET, HEAD", method, rec.Code, rec.Header().Get("Allow"))
		}
	}
}

func TestHandlerTypes(t *testing.T) {
	rec := get(t, "/sockets.d.ts", nil)
	if rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), types) {
		t.Fatalf("status %d, %d bytes: not sockets.d.ts", rec.Code, rec.Body.Len())
	}
	h := rec.Header()
	if got := h.Get("Content-Type"); got != "application/typescript; charset=utf-8" {
		t.Errorf("Content-Type %q", got)
	}
	if h.Get("ETag") == "" || h.Get("ETag") == `"`+Version()+`"` {
		t.Errorf("ETag %q: want one of the declarations' own", h.Get("ETag"))
	}
	if got := get(t, "/sockets.d.ts", http.Header{"If-None-Match": {h.Get("ETag")}}).Code; got != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d, want 304", got)
	}
	if got := h.Get("Cache-Control"); got != "no-cache" {
		t.Errorf("Cache-Control %q, want no-cache", got)
	}
}

// TestHandlerNetHTTP: the same handler on a plain http.ServeMux.
func TestHandlerNetHTTP(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("GET /sockets.js", Handler())
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/sockets.js", nil))
	if rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), script) {
		t.Errorf("status %d, %d bytes", rec.Code, rec.Body.Len())
	}
}
