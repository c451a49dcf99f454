package install

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"golang.org/x/net/publicsuffix"

	"github.com/eidlink/eidlink/internal/eidcert"
)

// Firefox has no per-site setting or policy that picks a client
// certificate: its only automatic choice, security.default_personal_cert,
// holds for every site. What it has per site is the person's remembered
// choice ("Remember this decision" in the certificate chooser), kept in
// the profile's ClientAuthRememberList.bin and looked up before the
// chooser would open. eidlink writes that choice, for the card's
// certificate and the site profiles' hosts only, while Firefox is closed
// (it reads the file when it starts).
//
// The file is Firefox's data storage (security/manager/ssl/data_storage):
// up to 2048 slots, each a checksum, a score and the day of last use
// (16-bit big-endian each), a 256-byte key and a 1024-byte value, both
// zero-padded; the checksum makes the XOR of all the slot's 16-bit words
// zero, and a slot with score 0 is empty. The key is
// "host,,originAttributesSuffix" (nsClientAuthRemember::GetEntryKey), the
// value the certificate's database key (nsIX509Cert.dbKey). With network
// partitioning (the default) the suffix is
// "^partitionKey=%28https%2Csite%29", site being the registrable domain
// of the page: measured with Firefox ESR 153, which stores
// "localhost,,^partitionKey=%28https%2Clocalhost%29" when one chooses and
// remembers a certificate on https://localhost:PORT/, and needs that very
// key to skip the chooser.
const (
	rememberFile     = "ClientAuthRememberList.bin"
	rememberKeyLen   = 256
	rememberValueLen = 1024
	rememberSlotLen  = 6 + rememberKeyLen + rememberValueLen
	rememberMaxSlots = 2048
)

// rememberProfiles names the site profile whose hosts get each card
// kind's certificate: the CIE identity provider asks for the CIE's,
// MyINPS's "Entra con CNS" for the CNS's.
var rememberProfiles = map[eidcert.Kind]string{eidcert.CIE: "cie-idp", eidcert.CNS: "myinps"}

// rememberHosts are the hosts Firefox should send cert to without
// asking: the exact hosts (Firefox remembers no wildcards) of the site
// profile for its card kind and, with dev, the demo hosts for a
// certificate of eidlink's test CAs.
func rememberHosts(cert *x509.Certificate, dev bool) []string {
	var hosts []string
	for _, h := range siteProfileHosts[rememberProfiles[eidcert.KindOf(cert)]] {
		if !strings.HasPrefix(h, "*.") {
			hosts = append(hosts, h)
		}
	}
	if dev && strings.Contains(cert.Issuer.String(), "O="+eidcert.TestOrganization) {
		hosts = append(hosts, demoHosts...)
	}
	return hosts
}

// rememberKeys are the entry keys of host: without partitioning, and
// partitioned under the host's own site (the page is the site's own).
func rememberKeys(host string) []string {
	site := host
	if net.ParseIP(host) == nil {
		if s, err := publicsuffix.EffectiveTLDPlusOne(host); err == nil {
			site = s
		}
	}
	suffix := "^partitionKey=" + url.QueryEscape("(https,"+site+")")
	return []string{host + ",,", host + ",," + suffix}
}

// certDBKey is Firefox's database key of cert (nsIX509Cert.dbKey): base64
// of eight zero bytes, the lengths of the serial number and of the issuer
// name (32-bit big-endian), the serial number's content bytes and the
// issuer name's DER.
func certDBKey(cert *x509.Certificate) (string, error) {
	tbs := cryptobyte.String(cert.RawTBSCertificate)
	var inner, serial cryptobyte.String
	if !tbs.ReadASN1(&inner, cbasn1.SEQUENCE) ||
		!inner.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) ||
		!inner.ReadASN1(&serial, cbasn1.INTEGER) {
		return "", errors.New("the certificate has no serial number")
	}
	key := make([]byte, 16, 16+len(serial)+len(cert.RawIssuer))
	binary.BigEndian.PutUint32(key[8:], uint32(len(serial)))
	binary.BigEndian.PutUint32(key[12:], uint32(len(cert.RawIssuer)))
	key = append(append(key, serial...), cert.RawIssuer...)
	return base64.StdEncoding.EncodeToString(key), nil
}

// rememberSlot is one slot of the file; score 0 is an empty slot.
type rememberSlot struct {
	score, day uint16
	key, value string
}

// parseRemember reads the slots of a ClientAuthRememberList.bin. A slot
// whose checksum fails is empty, as for Firefox; a file that does not end
// on a slot boundary is refused (Firefox would read none of it).
func parseRemember(data []byte) ([]rememberSlot, error) {
	if len(data)%rememberSlotLen != 0 || len(data)/rememberSlotLen > rememberMaxSlots {
		return nil, fmt.Errorf("%d bytes are not whole slots of Firefox's data storage", len(data))
	}
	var slots []rememberSlot
	for b := data; len(b) > 0; b = b[rememberSlotLen:] {
		var sum uint16
		for i := 0; i < rememberSlotLen; i += 2 {
			sum ^= binary.BigEndian.Uint16(b[i:])
		}
		s := rememberSlot{score: binary.BigEndian.Uint16(b[2:]), day: binary.BigEndian.Uint16(b[4:])}
		if sum != 0 || s.score == 0 || s.day == 0 {
			slots = append(slots, rememberSlot{})
			continue
		}
		s.key = strings.TrimRight(string(b[6:6+rememberKeyLen]), "\x00")
		s.value = strings.TrimRight(string(b[6+rememberKeyLen:rememberSlotLen]), "\x00")
		slots = append(slots, s)
	}
	return slots, nil
}

// encodeRemember writes slots in the file's format.
func encodeRemember(slots []rememberSlot) []byte {
	out := make([]byte, 0, len(slots)*rememberSlotLen)
	for _, s := range slots {
		b := make([]byte, rememberSlotLen)
		if s.score != 0 {
			binary.BigEndian.PutUint16(b[2:], s.score)
			binary.BigEndian.PutUint16(b[4:], s.day)
			copy(b[6:6+rememberKeyLen], s.key)
			copy(b[6+rememberKeyLen:], s.value)
			var sum uint16
			for i := 2; i < rememberSlotLen; i += 2 {
				sum ^= binary.BigEndian.Uint16(b[i:])
			}
			binary.BigEndian.PutUint16(b, sum)
		}
		out = append(out, b...)
	}
	return out
}

// rememberGet returns key's value in slots.
func rememberGet(slots []rememberSlot, key string) (string, bool) {
	for _, s := range slots {
		if s.score != 0 && s.key == key {
			return s.value, true
		}
	}
	return "", false
}

// rememberPut sets key to value, in its slot or the first empty one.
func rememberPut(slots []rememberSlot, key, value string, now time.Time) ([]rememberSlot, error) {
	if len(key) > rememberKeyLen || len(value) > rememberValueLen || key == "" {
		return slots, fmt.Errorf("remembered decision %q too long for Firefox", key)
	}
	s := rememberSlot{score: 1, day: uint16(now.Unix() / 86400), key: key, value: value}
	free := -1
	for i, have := range slots {
		if have.score != 0 && have.key == key {
			s.score = max(have.score, 1)
			slots[i] = s
			return slots, nil
		}
		if have.score == 0 && free < 0 {
			free = i
		}
	}
	switch {
	case free >= 0:
		slots[free] = s
	case len(slots) < rememberMaxSlots:
		slots = append(slots, s)
	default:
		return slots, errors.New("the list of certificate decisions Firefox remembers is full")
	}
	return slots, nil
}

// rememberDelete empties key's slot.
func rememberDelete(slots []rememberSlot, key string) {
	for i, s := range slots {
		if s.score != 0 && s.key == key {
			slots[i] = rememberSlot{}
		}
	}
}
