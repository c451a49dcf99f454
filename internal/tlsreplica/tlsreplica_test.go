package tlsreplica

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/eidlink/eidlink/internal/eidcert"
)

type replica struct {
	sites  Sites
	caPool *x509.CertPool
}

// start runs the replicas trusting the CAs of ids, until the test ends.
func start(t *testing.T, ids ...*eidcert.TestIdentity) replica {
	t.Helper()
	return startWith(t, Options{CAs: caFiles(t, ids...)})
}

// caFiles writes the CA certificates of ids to files.
func caFiles(t *testing.T, ids ...*eidcert.TestIdentity) []string {
	dir := t.TempDir()
	var cas []string
	for i, id := range ids {
		f := filepath.Join(dir, "ca"+string(rune('0'+i))+".pem")
		os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: id.CA.Raw}), 0o644)
		cas = append(cas, f)
	}
	return cas
}

// startWith runs the replicas with o until the test ends.
func startWith(t *testing.T, o Options) replica {
	t.Helper()
	caOut := filepath.Join(t.TempDir(), "server-ca.pem")
	ready := make(chan Sites, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	o.CAOut, o.Ready = caOut, func(s Sites) { ready <- s }
	go func() { done <- Run(ctx, o) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	var r replica
	select {
	case r.sites = <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the replicas did not start")
	}
	pemCA, err := os.ReadFile(caOut)
	if err != nil {
		t.Fatal(err)
	}
	r.caPool = x509.NewCertPool()
	if !r.caPool.AppendCertsFromPEM(pemCA) {
		t.Fatal("CAOut holds no certificate")
	}
	return r
}

// client is a browser stand-in: the replica hosts resolve to 127.0.0.1,
// the replica CA is trusted, cert (if any) is offered for client auth.
func (r replica) client(cert *tls.Certificate) *http.Client {
	cfg := &tls.Config{RootCAs: r.caPool}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		_, port, _ := net.SplitHostPort(addr)
		return (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, DialContext: dial}}
}

func identity(t *testing.T, kind eidcert.Kind) *eidcert.TestIdentity {
	t.Helper()
	id, err := eidcert.NewTestIdentity(kind, eidcert.Holder{GivenName: "MARIO", Surname: "ROSSI", CodiceFiscale: "RSSMRA80A01H501U"})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func cardCert(id *eidcert.TestIdentity) *tls.Certificate {
	return &tls.Certificate{Certificate: [][]byte{id.Cert.Raw}, PrivateKey: id.Key, Leaf: id.Cert}
}

// body returns the text of an OK response, failing t otherwise:
// body(t)(client.Get(url)).
func body(t *testing.T) func(*http.Response, error) string {
	return func(res *http.Response, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s: %s", res.Request.URL, res.Status, b)
		}
		return string(b)
	}
}

var authLink = regexp.MustCompile(`id="pc" href="([^"]+)"`)

func TestCIELoginOverTLS12(t *testing.T) {
	cie := identity(t, eidcert.CIE)
	logFile := filepath.Join(t.TempDir(), "replicas.log")
	f, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := startWith(t, Options{CAs: caFiles(t, cie), Log: slog.New(slog.NewTextHandler(f, nil))})
	c := r.client(cardCert(cie))
	page := body(t)(c.Get(r.sites.IdP))
	if !strings.Contains(page, ">Prosegui con computer<") {
		t.Fatalf("no 'Prosegui con computer' on the IdP page:\n%s", page)
	}
	m := authLink.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no link to the client-auth endpoint:\n%s", page)
	}
	res, err := c.Get(m[1] + "?site=1") // as the page's own click handler leaves it
	welcome := body(t)(res, err)
	if !strings.Contains(welcome, "Benvenuto MARIO ROSSI") {
		t.Fatalf("no welcome:\n%s", welcome)
	}
	for _, want := range []string{`data-kind="cie"`, `data-tls="TLS 1.2"`, `data-site="true"`} {
		if !strings.Contains(welcome, want) {
			t.Errorf("welcome page lacks %s (the client offered TLS 1.3 too):\n%s", want, welcome)
		}
	}
	if res.Request.URL.Host != INPSHost+":"+portOf(r.sites.INPS) {
		t.Errorf("welcome served by %s, want MyINPS", res.Request.URL.Host)
	}
	// The log names the host of each client-auth handshake and login.
	log, _ := os.ReadFile(logFile)
	for _, want := range []string{
		`msg="tls replica: client hello" host=` + IdPHost + "\n",
		`msg="tls replica: client-certificate login" holder="MARIO ROSSI" kind=cie tls="TLS 1.2" host=` + IdPHost + " path=/cie\n",
	} {
		if !strings.Contains(string(log), want) {
			t.Errorf("the replicas' log lacks %q:\n%s", want, log)
		}
	}
	// The ticket is used up.
	again, err := c.Get(res.Request.URL.String())
	if err != nil {
		t.Fatal(err)
	}
	again.Body.Close()
	if again.StatusCode != http.StatusForbidden {
		t.Errorf("a used ticket: %s, want 403", again.Status)
	}
}

func TestCNSProcediPostsOverTLS12(t *testing.T) {
	cns := identity(t, eidcert.CNS)
	r := start(t, cns)
	c := r.client(cardCert(cns))
	page := body(t)(c.Get(r.sites.INPS))
	m := regexp.MustCompile(`<form id="cns" method="post" action="([^"]+)">`).FindStringSubmatch(page)
	if m == nil || !strings.Contains(page, ">Procedi<") {
		t.Fatalf("no CNS form with Procedi:\n%s", page)
	}
	welcome := body(t)(c.PostForm(m[1], url.Values{"site": {"1"}}))
	for _, want := range []string{"Benvenuto MARIO ROSSI", `data-kind="cns"`, `data-tls="TLS 1.2"`, `data-site="true"`} {
		if !strings.Contains(welcome, want) {
			t.Errorf("welcome page lacks %s:\n%s", want, welcome)
		}
	}
}

func TestTLS13NeedsPSS(t *testing.T) {
	cie := identity(t, eidcert.CIE)
	r := start(t, cie)
	page := body(t)(r.client(nil).Get(r.sites.IdPTLS13))
	link := authLink.FindStringSubmatch(page)[1]
	welcome := body(t)(r.client(cardCert(cie)).Get(link))
	if !strings.Contains(welcome, `data-tls="TLS 1.3"`) || !strings.Contains(welcome, "Benvenuto MARIO ROSSI") {
		t.Errorf("TLS 1.3 login with an RSA key that can do PSS:\n%s", welcome)
	}
	// A card that pads PKCS#1 v1.5 itself (a CIE) has no TLS 1.3 signature:
	// no login there, while TLS 1.2 takes it.
	pkcs1 := cardCert(cie)
	pkcs1.SupportedSignatureAlgorithms = []tls.SignatureScheme{tls.PKCS1WithSHA256}
	if res, err := r.client(pkcs1).Get(link); err == nil {
		res.Body.Close()
		t.Errorf("TLS 1.3 login with a PKCS#1-only key: %s, want a failed handshake", res.Status)
	}
	idp := body(t)(r.client(nil).Get(r.sites.IdP))
	if w := body(t)(r.client(pkcs1).Get(authLink.FindStringSubmatch(idp)[1])); !strings.Contains(w, `data-tls="TLS 1.2"`) {
		t.Errorf("TLS 1.2 login with a PKCS#1-only key:\n%s", w)
	}
}

func TestClientAuthRefusesWithoutTheCardCA(t *testing.T) {
	cie, stranger := identity(t, eidcert.CIE), identity(t, eidcert.CIE)
	r := start(t, cie)
	link := authLink.FindStringSubmatch(body(t)(r.client(nil).Get(r.sites.IdP)))[1]
	for name, cert := range map[string]*tls.Certificate{"no certificate": nil, "another CA's card": cardCert(stranger)} {
		if res, err := r.client(cert).Get(link); err == nil {
			res.Body.Close()
			t.Errorf("%s: %s, want a failed handshake", name, res.Status)
		}
	}
	res, err := r.client(nil).Get("https://" + INPSHost + ":" + portOf(r.sites.INPS) + "/myinps?t=forged")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("welcome without a login: %s, want 403", res.Status)
	}
}

// With CIE CAs for the identity provider and CNS CAs for INPS, each site
// asks for its own cards' certificates (the CAs named in its certificate
// request, by which a browser with both cards chooses) and refuses the
// other kind's.
func TestEachSiteTrustsItsKind(t *testing.T) {
	cie, cns := identity(t, eidcert.CIE), identity(t, eidcert.CNS)
	r := startWith(t, Options{CIECAs: caFiles(t, cie), CNSCAs: caFiles(t, cns)})
	inpsForm := regexp.MustCompile(`<form id="cns" method="post" action="([^"]+)">`).FindStringSubmatch(body(t)(r.client(nil).Get(r.sites.INPS)))[1]
	idpLink := authLink.FindStringSubmatch(body(t)(r.client(nil).Get(r.sites.IdP)))[1]
	for _, tc := range []struct {
		site        string
		login       func(c *http.Client) (*http.Response, error)
		own, other  *eidcert.TestIdentity
		welcomeKind string
	}{
		{"identity provider", func(c *http.Client) (*http.Response, error) { return c.Get(idpLink) }, cie, cns, "cie"},
		{"INPS", func(c *http.Client) (*http.Response, error) { return c.PostForm(inpsForm, nil) }, cns, cie, "cns"},
	} {
		var asked [][]byte
		c := r.client(nil)
		c.Transport.(*http.Transport).TLSClientConfig.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			asked = cri.AcceptableCAs
			return cardCert(tc.own), nil
		}
		if w := body(t)(tc.login(c)); !strings.Contains(w, `data-kind="`+tc.welcomeKind+`"`) {
			t.Errorf("%s: no login with its own card:\n%s", tc.site, w)
		}
		if len(asked) != 1 || !bytes.Equal(asked[0], tc.own.CA.RawSubject) {
			t.Errorf("%s asked for certificates of %d CAs, want its own kind's only", tc.site, len(asked))
		}
		if res, err := tc.login(r.client(cardCert(tc.other))); err == nil {
			res.Body.Close()
			t.Errorf("%s took the other kind's card: %s", tc.site, res.Status)
		}
	}
}

func portOf(site string) string {
	u, _ := url.Parse(site)
	return u.Port()
}
