package relyingparty

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
)

func TestServePageLibrary(t *testing.T) {
	file, err := os.ReadFile("eidlink.js")
	if err != nil {
		t.Fatal(err)
	}
	get := func(method string, header http.Header) *http.Response {
		r := httptest.NewRequest(method, "/eidlink.js", nil)
		for k, v := range header {
			r.Header[k] = v
		}
		w := httptest.NewRecorder()
		ServePageLibrary(w, r)
		return w.Result()
	}
	resp := get(http.MethodGet, nil)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Fatalf("GET: %s, Content-Type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	if !bytes.Equal(body, file) || !bytes.Contains(body, []byte("web-eid:authenticate")) {
		t.Fatalf("GET served %d bytes, not eidlink.js (%d bytes)", len(body), len(file))
	}
	etag := resp.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if resp := get(http.MethodGet, http.Header{"If-None-Match": {etag}}); resp.StatusCode != http.StatusNotModified {
		t.Errorf("GET with If-None-Match of the current ETag: %s, want 304", resp.Status)
	}
	if resp := get(http.MethodGet, http.Header{"If-None-Match": {`"stale"`}}); resp.StatusCode != http.StatusOK {
		t.Errorf("GET with a stale ETag: %s, want 200", resp.Status)
	}
	resp = get(http.MethodHead, nil)
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK || len(body) != 0 {
		t.Errorf("HEAD: %s with %d bytes", resp.Status, len(body))
	}
}
