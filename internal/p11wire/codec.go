package p11wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The field tags. PROTOCOL.md lists them with what holds them; the C
// module has the same table in pkcs11/wire.h.
const (
	tagVersion    = 0x01 // request, response: integer
	tagOp         = 0x02 // request: integer
	tagGeneration = 0x03 // request (snapshot), response (snapshot): integer
	tagStatus     = 0x04 // response: integer
	tagMessage    = 0x05 // response: string

	tagSignSlot    = 0x10 // request (sign): integer
	tagSignSerial  = 0x11 // request (sign): string
	tagSignKeyID   = 0x12 // request (sign): bytes
	tagSignMech    = 0x13 // request (sign): integer
	tagSignPSSHash = 0x14 // request (sign): integer
	tagSignPSSMGF  = 0x15 // request (sign): integer
	tagSignPSSSalt = 0x16 // request (sign): integer
	tagSignData    = 0x17 // request (sign): bytes
	tagSignature   = 0x18 // response (sign): bytes

	tagSlot        = 0x20 // response (snapshot), repeated: slot
	tagSlotID      = 0x21 // slot: integer
	tagSlotDesc    = 0x22 // slot: string
	tagToken       = 0x23 // slot: token
	tagTokenLabel  = 0x24 // token: string
	tagTokenManuf  = 0x25 // token: string
	tagTokenModel  = 0x26 // token: string
	tagTokenSerial = 0x27 // token: string
	tagMech        = 0x28 // token, repeated: mechanism
	tagMechType    = 0x29 // mechanism: integer
	tagMechMin     = 0x2A // mechanism: integer
	tagMechMax     = 0x2B // mechanism: integer
	tagMechFlags   = 0x2C // mechanism: integer

	tagObject     = 0x30 // token, repeated: object
	tagAttr       = 0x31 // object, repeated: attribute
	tagAttrType   = 0x32 // attribute: integer
	tagAttrBytes  = 0x33 // attribute: bytes (exactly one of 0x33-0x35)
	tagAttrULong  = 0x34 // attribute: integer
	tagAttrBool   = 0x35 // attribute: integer 0 or 1
	tagObjSignLen = 0x36 // object: integer
)

// Limits of the token model, the same in the C module: a snapshot beyond
// them is refused as a whole.
const (
	MaxSlots      = 32
	MaxMechanisms = 8
	MaxObjects    = 16
	MaxAttributes = 40
)

const headerLen = 6

// ErrTooLarge is returned for a message over MaxMessage.
var ErrTooLarge = errors.New("p11wire: message too large")

type encoder []byte

func (e *encoder) field(tag uint16, v []byte) {
	*e = binary.BigEndian.AppendUint16(*e, tag)
	*e = binary.BigEndian.AppendUint32(*e, uint32(len(v)))
	*e = append(*e, v...)
}

func (e *encoder) int(tag uint16, v uint64) {
	e.field(tag, binary.BigEndian.AppendUint64(nil, v))
}

func (e *encoder) str(tag uint16, s string) { e.field(tag, []byte(s)) }

// nested writes the fields f encodes as the value of tag.
func (e *encoder) nested(tag uint16, f func(*encoder)) {
	var inner encoder
	f(&inner)
	e.field(tag, inner)
}

func finish(e encoder) ([]byte, error) {
	if len(e) > MaxMessage {
		return nil, ErrTooLarge
	}
	return e, nil
}

// MarshalBinary encodes r.
func (r *Request) MarshalBinary() ([]byte, error) {
	var e encoder
	e.int(tagVersion, r.Version)
	e.int(tagOp, uint64(r.Op))
	if r.Generation != 0 {
		e.int(tagGeneration, r.Generation)
	}
	if s := r.Sign; s != nil {
		e.int(tagSignSlot, s.Slot)
		e.str(tagSignSerial, s.Serial)
		e.field(tagSignKeyID, s.KeyID)
		e.int(tagSignMech, s.Mechanism)
		if p := s.PSS; p != nil {
			e.int(tagSignPSSHash, p.Hash)
			e.int(tagSignPSSMGF, p.MGF)
			e.int(tagSignPSSSalt, p.SaltLen)
		}
		e.field(tagSignData, s.Data)
	}
	return finish(e)
}

// MarshalBinary encodes r.
func (r *Response) MarshalBinary() ([]byte, error) {
	if len(r.Slots) > MaxSlots {
		return nil, fmt.Errorf("p11wire: %d slots, at most %d", len(r.Slots), MaxSlots)
	}
	var e encoder
	e.int(tagVersion, r.Version)
	e.int(tagStatus, uint64(r.Status))
	if r.Message != "" {
		e.str(tagMessage, r.Message)
	}
	if r.Generation != 0 {
		e.int(tagGeneration, r.Generation)
	}
	for _, s := range r.Slots {
		if err := s.check(); err != nil {
			return nil, err
		}
		e.nested(tagSlot, s.encode)
	}
	if r.Signature != nil {
		e.field(tagSignature, r.Signature)
	}
	return finish(e)
}

func (s *Slot) check() error {
	t := s.Token
	if t == nil {
		return nil
	}
	switch {
	case len(t.Mechanisms) > MaxMechanisms:
		return fmt.Errorf("p11wire: slot %d: %d mechanisms, at most %d", s.ID, len(t.Mechanisms), MaxMechanisms)
	case len(t.Objects) > MaxObjects:
		return fmt.Errorf("p11wire: slot %d: %d objects, at most %d", s.ID, len(t.Objects), MaxObjects)
	}
	for _, o := range t.Objects {
		if len(o.Attributes) > MaxAttributes {
			return fmt.Errorf("p11wire: slot %d: an object with %d attributes, at most %d", s.ID, len(o.Attributes), MaxAttributes)
		}
	}
	return nil
}

func (s *Slot) encode(e *encoder) {
	e.int(tagSlotID, s.ID)
	e.str(tagSlotDesc, s.Description)
	if t := s.Token; t != nil {
		e.nested(tagToken, t.encode)
	}
}

func (t *Token) encode(e *encoder) {
	e.str(tagTokenLabel, t.Label)
	e.str(tagTokenManuf, t.Manufacturer)
	e.str(tagTokenModel, t.Model)
	e.str(tagTokenSerial, t.Serial)
	for _, m := range t.Mechanisms {
		e.nested(tagMech, func(e *encoder) {
			e.int(tagMechType, m.Type)
			e.int(tagMechMin, m.MinKeySize)
			e.int(tagMechMax, m.MaxKeySize)
			e.int(tagMechFlags, m.Flags)
		})
	}
	for _, o := range t.Objects {
		e.nested(tagObject, func(e *encoder) {
			for _, a := range o.Attributes {
				e.nested(tagAttr, a.encode)
			}
			if o.SignatureLen != 0 {
				e.int(tagObjSignLen, o.SignatureLen)
			}
		})
	}
}

func (a *Attribute) encode(e *encoder) {
	e.int(tagAttrType, a.Type)
	switch a.Kind {
	case KindULong:
		e.int(tagAttrULong, a.ULong)
	case KindBool:
		v := uint64(0)
		if a.Bool {
			v = 1
		}
		e.int(tagAttrBool, v)
	default:
		e.field(tagAttrBytes, a.Bytes)
	}
}

// A decoder keeps the first error met in a message.
type decoder struct{ err error }

func (d *decoder) fail(format string, a ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("p11wire: "+format, a...)
	}
}

func (d *decoder) int(tag uint16, v []byte) uint64 {
	if len(v) != 8 {
		d.fail("field 0x%02x: an integer of %d bytes", tag, len(v))
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func clone(v []byte) []byte { return append([]byte(nil), v...) }

// seen is a set of tags (all below 64).
type seen uint64

func tags(ts ...uint16) seen {
	var s seen
	for _, t := range ts {
		s |= 1 << t
	}
	return s
}

func (s seen) has(tag uint16) bool { return tag < 64 && s&(1<<tag) != 0 }

// fields walks the sequence b, calling f with each field, and returns the
// tags met. A tag in single may appear once; the tags in required must
// appear; what names the sequence in errors. It stops at the first error.
func (d *decoder) fields(b []byte, single, required seen, what string, f func(tag uint16, v []byte)) seen {
	var have seen
	for len(b) > 0 && d.err == nil {
		if len(b) < headerLen {
			d.fail("%s: truncated field header", what)
			break
		}
		tag, n := binary.BigEndian.Uint16(b), binary.BigEndian.Uint32(b[2:])
		if uint64(n) > uint64(len(b)-headerLen) {
			d.fail("%s: field 0x%02x: length %d past the end", what, tag, n)
			break
		}
		v := b[headerLen : headerLen+int(n)]
		b = b[headerLen+int(n):]
		if single.has(tag) && have.has(tag) {
			d.fail("%s: field 0x%02x given twice", what, tag)
			break
		}
		if tag < 64 {
			have |= 1 << tag
		}
		f(tag, v)
	}
	if d.err == nil && have&required != required {
		d.fail("%s without a required field", what)
	}
	return have
}

// ParseRequest decodes a request.
func ParseRequest(b []byte) (*Request, error) {
	if len(b) > MaxMessage {
		return nil, ErrTooLarge
	}
	r := &Request{}
	var s SignRequest
	var pss PSSParams
	d := &decoder{}
	single := tags(tagVersion, tagOp, tagGeneration, tagSignSlot, tagSignSerial, tagSignKeyID, tagSignMech,
		tagSignPSSHash, tagSignPSSMGF, tagSignPSSSalt, tagSignData)
	have := d.fields(b, single, tags(tagVersion, tagOp), "request", func(tag uint16, v []byte) {
		switch tag {
		case tagVersion:
			r.Version = d.int(tag, v)
		case tagOp:
			r.Op = Op(d.int(tag, v))
		case tagGeneration:
			r.Generation = d.int(tag, v)
		case tagSignSlot:
			s.Slot = d.int(tag, v)
		case tagSignSerial:
			s.Serial = string(v)
		case tagSignKeyID:
			s.KeyID = clone(v)
		case tagSignMech:
			s.Mechanism = d.int(tag, v)
		case tagSignPSSHash:
			pss.Hash = d.int(tag, v)
		case tagSignPSSMGF:
			pss.MGF = d.int(tag, v)
		case tagSignPSSSalt:
			pss.SaltLen = d.int(tag, v)
		case tagSignData:
			s.Data = clone(v)
		}
	})
	pssTags := tags(tagSignPSSHash, tagSignPSSMGF, tagSignPSSSalt)
	if have&pssTags != 0 && have&pssTags != pssTags {
		d.fail("incomplete PSS parameters")
	}
	if r.Op == OpSign && r.Version == Version {
		if signTags := tags(tagSignSlot, tagSignKeyID, tagSignMech, tagSignData); have&signTags != signTags {
			d.fail("a sign request without slot, key id, mechanism or data")
		}
		if have&pssTags != 0 {
			s.PSS = &pss
		}
		r.Sign = &s
	}
	if d.err != nil {
		return nil, d.err
	}
	return r, nil
}

// ParseResponse decodes a response.
func ParseResponse(b []byte) (*Response, error) {
	if len(b) > MaxMessage {
		return nil, ErrTooLarge
	}
	r := &Response{}
	d := &decoder{}
	d.fields(b, tags(tagVersion, tagStatus, tagMessage, tagGeneration, tagSignature), tags(tagVersion, tagStatus), "response",
		func(tag uint16, v []byte) {
			switch tag {
			case tagVersion:
				r.Version = d.int(tag, v)
			case tagStatus:
				r.Status = Status(d.int(tag, v))
			case tagMessage:
				r.Message = string(v)
			case tagGeneration:
				r.Generation = d.int(tag, v)
			case tagSignature:
				r.Signature = clone(v)
			case tagSlot:
				if len(r.Slots) == MaxSlots {
					d.fail("more than %d slots", MaxSlots)
					return
				}
				r.Slots = append(r.Slots, d.slot(v))
			}
		})
	if d.err != nil {
		return nil, d.err
	}
	return r, nil
}

func (d *decoder) slot(b []byte) Slot {
	var s Slot
	d.fields(b, tags(tagSlotID, tagSlotDesc, tagToken), tags(tagSlotID), "slot", func(tag uint16, v []byte) {
		switch tag {
		case tagSlotID:
			s.ID = d.int(tag, v)
		case tagSlotDesc:
			s.Description = string(v)
		case tagToken:
			t := d.token(v)
			s.Token = &t
		}
	})
	return s
}

func (d *decoder) token(b []byte) Token {
	var t Token
	d.fields(b, tags(tagTokenLabel, tagTokenManuf, tagTokenModel, tagTokenSerial), 0, "token", func(tag uint16, v []byte) {
		switch tag {
		case tagTokenLabel:
			t.Label = string(v)
		case tagTokenManuf:
			t.Manufacturer = string(v)
		case tagTokenModel:
			t.Model = string(v)
		case tagTokenSerial:
			t.Serial = string(v)
		case tagMech:
			if len(t.Mechanisms) == MaxMechanisms {
				d.fail("more than %d mechanisms", MaxMechanisms)
				return
			}
			t.Mechanisms = append(t.Mechanisms, d.mechanism(v))
		case tagObject:
			if len(t.Objects) == MaxObjects {
				d.fail("more than %d objects", MaxObjects)
				return
			}
			t.Objects = append(t.Objects, d.object(v))
		}
	})
	return t
}

func (d *decoder) mechanism(b []byte) Mechanism {
	var m Mechanism
	d.fields(b, tags(tagMechType, tagMechMin, tagMechMax, tagMechFlags), tags(tagMechType), "mechanism", func(tag uint16, v []byte) {
		switch tag {
		case tagMechType:
			m.Type = d.int(tag, v)
		case tagMechMin:
			m.MinKeySize = d.int(tag, v)
		case tagMechMax:
			m.MaxKeySize = d.int(tag, v)
		case tagMechFlags:
			m.Flags = d.int(tag, v)
		}
	})
	return m
}

func (d *decoder) object(b []byte) Object {
	var o Object
	d.fields(b, tags(tagObjSignLen), 0, "object", func(tag uint16, v []byte) {
		switch tag {
		case tagAttr:
			if len(o.Attributes) == MaxAttributes {
				d.fail("more than %d attributes", MaxAttributes)
				return
			}
			a := d.attribute(v)
			for _, x := range o.Attributes {
				if x.Type == a.Type {
					d.fail("attribute 0x%x given twice", a.Type)
				}
			}
			o.Attributes = append(o.Attributes, a)
		case tagObjSignLen:
			o.SignatureLen = d.int(tag, v)
		}
	})
	return o
}

func (d *decoder) attribute(b []byte) Attribute {
	var a Attribute
	values := 0
	d.fields(b, tags(tagAttrType), tags(tagAttrType), "attribute", func(tag uint16, v []byte) {
		switch tag {
		case tagAttrType:
			a.Type = d.int(tag, v)
		case tagAttrBytes:
			values++
			a.Kind, a.Bytes = KindBytes, clone(v)
		case tagAttrULong:
			values++
			a.Kind, a.ULong = KindULong, d.int(tag, v)
		case tagAttrBool:
			values++
			n := d.int(tag, v)
			if n > 1 {
				d.fail("boolean attribute 0x%x is %d", a.Type, n)
			}
			a.Kind, a.Bool = KindBool, n == 1
		}
	})
	if values != 1 {
		d.fail("attribute 0x%x: %d values, want one", a.Type, values)
	}
	return a
}
