package relyingparty

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"net/http"
	"time"
)

// pageLibrary is eidlink.js, the file next to this one.
//
//go:embed eidlink.js
var pageLibrary []byte

var pageLibraryETag = func() string {
	sum := sha256.Sum256(pageLibrary)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
}()

// ServePageLibrary serves eidlink.js, the page library, as JavaScript:
//
//	mux.HandleFunc("GET /eidlink.js", relyingparty.ServePageLibrary)
//
// Pages load it as an ES module (it also sets window.eidlink) and call
// eidlink.authenticate(nonce) for the token; see the package
// documentation. It answers HEAD and conditional requests (ETag) too.
func ServePageLibrary(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("ETag", pageLibraryETag)
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "eidlink.js", time.Time{}, bytes.NewReader(pageLibrary))
}
