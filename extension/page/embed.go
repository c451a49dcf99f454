// Package page holds eidlink.js, the page library relying parties load to
// talk to the eidlink extension (Web eID message protocol), so that Go
// servers (the demo site) can serve it.
package page

import _ "embed"

// Library is eidlink.js, an ES module that also sets window.eidlink.
//
//go:embed eidlink.js
var Library []byte
