package client

import (
	"bytes"
	"crypto/sha512"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"html"
	"html/template"
	"net/http"
	"strings"
	"time"
)

//go:embed sockets.js
var script []byte

//go:embed sockets.d.ts
var types []byte

// asset is one embedded file as served.
type asset struct {
	data        []byte
	contentType string
	version     string // hex of the first 12 bytes of the content's SHA-384
	etag        string // version, quoted
	integrity   string // "sha384-" and the base64 of the content's SHA-384
}

func newAsset(data []byte, contentType string) *asset {
	sum := sha512.Sum384(data)
	v := hex.EncodeToString(sum[:12])
	return &asset{
		data:        data,
		contentType: contentType,
		version:     v,
		etag:        `"` + v + `"`,
		integrity:   "sha384-" + base64.StdEncoding.EncodeToString(sum[:]),
	}
}

var (
	scriptAsset = newAsset(script, "text/javascript; charset=utf-8")
	typesAsset  = newAsset(types, "application/typescript; charset=utf-8")
)

// Integrity returns the Subresource Integrity value of sockets.js,
// "sha384-" and the base64 of its SHA-384, for a script tag's integrity
// attribute: a browser then runs the script only if it is this content.
func Integrity() string { return scriptAsset.integrity }

// Version returns a short hash of sockets.js (24 hex digits). The handler
// answers a URL whose query has v=Version() with a year-long, immutable
// Cache-Control; it is also the content's ETag, quoted.
func Version() string { return scriptAsset.version }

// ScriptTag returns the script element that loads sockets.js, deferred,
// from path, where Handler is mounted (e.g. "/sockets.js"): named by its
// Version, so that the browser caches it for good, and with its Integrity,
// so that the browser runs only this content. For html/template:
//
//	template.FuncMap{"socketsScript": func() template.HTML { return client.ScriptTag("/sockets.js") }}
func ScriptTag(path string) template.HTML {
	src := html.EscapeString(path + "?v=" + Version())
	return template.HTML(`<script src="` + src + `" integrity="` + Integrity() + `" crossorigin="anonymous" defer></script>`)
}

// Script returns a copy of sockets.js, for a page or a file of one's own.
func Script() []byte { return bytes.Clone(script) }

// Handler serves sockets.js, or sockets.d.ts when the request's path ends
// in ".d.ts", to GET and HEAD requests (others get 405). It sets
// Content-Type, a strong ETag, X-Content-Type-Options: nosniff and
// Cache-Control (see the package doc), and answers If-None-Match with 304.
// It is an http.HandlerFunc, so Macaron takes it as a handler as it is:
// m.Get("/sockets.js", client.Handler()).
func Handler() http.HandlerFunc { return serve }

// immutable is the Cache-Control of a URL that names the content.
const immutable = "public, max-age=31536000, immutable"

func serve(w http.ResponseWriter, r *http.Request) {
	a := scriptAsset
	if strings.HasSuffix(r.URL.Path, ".d.ts") {
		a = typesAsset
	}
	h := w.Header()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h.Set("Content-Type", a.contentType)
	h.Set("ETag", a.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	if a == scriptAsset && r.URL.Query().Get("v") == a.version {
		h.Set("Cache-Control", immutable)
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.data))
}
