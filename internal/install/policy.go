package install

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/eidlink/eidlink/internal/eidcert"
)

// DefaultAutoSelectPatterns are the sites whose certificate request
// Chromium-family browsers answer without asking, under the
// AutoSelectCertificateForUrls policy: the hosts of the site profiles
// (siteHosts, from extension/src/profiles/site-profiles.json), MyINPS
// with CNS and the CIE identity provider. Nothing else: the certificate
// names the holder and carries the codice fiscale.
var DefaultAutoSelectPatterns = autoSelectPatterns(siteHosts, "")

// demoPatterns are the demo sites of the site profiles on any port, for
// AutoSelect.Dev.
var demoPatterns = autoSelectPatterns(demoHosts, ":*")

// autoSelectPatterns turns hosts ("www.inps.it", "*.inps.it") into
// content-setting patterns ("https://[*.]inps.it"), leaving out hosts a
// wildcard already covers; port is added to each (":*": any port).
func autoSelectPatterns(hosts []string, port string) []string {
	var domains []string
	for _, h := range hosts {
		if d, ok := strings.CutPrefix(h, "*."); ok {
			domains = append(domains, d)
		}
	}
	var out []string
	for _, h := range hosts {
		p := "https://" + h + port
		if d, ok := strings.CutPrefix(h, "*."); ok {
			p = "https://[*.]" + d + port
		} else if slices.ContainsFunc(domains, func(d string) bool { return h == d || strings.HasSuffix(h, "."+d) }) {
			continue
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// AutoSelect configures the AutoSelectCertificateForUrls policy. It is
// read from eidlink's config file:
//
//	{
//	  "autoSelectPatterns": ["https://idserver.servizicie.interno.gov.it", "https://[*.]inps.it"],
//	  "autoSelectIssuerCNs": ["Ministero dell'Interno - CIE CA"]
//	}
//
// No patterns means DefaultAutoSelectPatterns; no issuers means any
// certificate the site accepts (an empty filter: the site's own list of
// certificate authorities, in its certificate request, narrows the choice
// to CIE or CNS certificates, and eidlink's module presents only the
// cards' authentication certificates).
type AutoSelect struct {
	Patterns  []string `json:"autoSelectPatterns"`
	IssuerCNs []string `json:"autoSelectIssuerCNs"`
	// Dev adds the demo sites (127.0.0.1 and localhost, any port) for
	// certificates of eidlink's test CAs (issuer O=eidlink test), for
	// the local replicas of the tests and "make demo".
	Dev bool `json:"-"`
}

// LoadAutoSelect reads the AutoSelect keys of eidlink's config file; a
// missing file gives the defaults.
func LoadAutoSelect(configFile string) (AutoSelect, error) {
	var a AutoSelect
	data, err := os.ReadFile(configFile)
	if errors.Is(err, os.ErrNotExist) {
		return a, nil
	}
	if err == nil {
		err = json.Unmarshal(data, &a)
	}
	if err != nil {
		return a, fmt.Errorf("config file %s: %w", configFile, err)
	}
	return a, nil
}

// entries returns the policy's list items: one JSON string per pattern
// and issuer.
func (a AutoSelect) entries() []string {
	type name struct {
		CN string `json:"CN,omitempty"`
		O  string `json:"O,omitempty"`
	}
	type filter struct {
		Issuer *name `json:"ISSUER,omitempty"`
	}
	type entry struct {
		Pattern string `json:"pattern"`
		Filter  filter `json:"filter"`
	}
	patterns := a.Patterns
	if len(patterns) == 0 {
		patterns = DefaultAutoSelectPatterns
	}
	var out []string
	for _, p := range patterns {
		if len(a.IssuerCNs) == 0 {
			out = append(out, mustJSON(entry{Pattern: p}))
		}
		for _, cn := range a.IssuerCNs {
			out = append(out, mustJSON(entry{Pattern: p, Filter: filter{&name{CN: cn}}}))
		}
	}
	if a.Dev {
		for _, p := range demoPatterns {
			out = append(out, mustJSON(entry{Pattern: p, Filter: filter{&name{O: eidcert.TestOrganization}}}))
		}
	}
	return out
}

// autoSelectFile is a managed policy file (Linux) holding the entries.
func autoSelectFile(entries []string) []byte {
	b, _ := json.MarshalIndent(map[string][]string{"AutoSelectCertificateForUrls": entries}, "", "  ")
	return append(b, '\n')
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v) // strings only: cannot fail
	return string(b)
}

// A JSON document shared with others (Firefox's policies.json): eidlink
// sets and removes its own keys and keeps everything else.

func readDoc(file string) (map[string]any, error) {
	doc := map[string]any{}
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return doc, nil
	}
	if err == nil && len(data) > 0 {
		err = json.Unmarshal(data, &doc)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return doc, nil
}

func docJSON(doc map[string]any) []byte {
	b, _ := json.MarshalIndent(doc, "", "  ") // decoded JSON: cannot fail
	return append(b, '\n')
}

// setKey sets doc[keys[0]]...[keys[n-1]] = v, creating objects on the way.
func setKey(doc map[string]any, keys []string, v any) error {
	for _, k := range keys[:len(keys)-1] {
		next, ok := doc[k].(map[string]any)
		if !ok {
			if doc[k] != nil {
				return fmt.Errorf("%q is not an object", k)
			}
			next = map[string]any{}
			doc[k] = next
		}
		doc = next
	}
	doc[keys[len(keys)-1]] = v
	return nil
}

// getKey returns doc[keys[0]]...[keys[n-1]].
func getKey(doc map[string]any, keys []string) (any, bool) {
	var v any = doc
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

// deleteKey removes the key at keys and the objects it leaves empty.
func deleteKey(doc map[string]any, keys []string) {
	if len(keys) == 0 {
		return
	}
	if len(keys) > 1 {
		next, ok := doc[keys[0]].(map[string]any)
		if !ok {
			return
		}
		deleteKey(next, keys[1:])
		if len(next) > 0 {
			return
		}
	}
	delete(doc, keys[0])
}
