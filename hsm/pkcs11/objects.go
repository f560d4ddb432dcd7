package pkcs11

import (
	"errors"
	"fmt"

	p11 "github.com/miekg/pkcs11"
)

// findLocked returns every object matching a template.
func (b *Backend) findLocked(tmpl []*p11.Attribute) ([]p11.ObjectHandle, error) {
	if err := b.ctx().FindObjectsInit(b.session, tmpl); err != nil {
		return nil, fmt.Errorf("%s: find objects: %w", b.device, err)
	}
	var all []p11.ObjectHandle
	for {
		hs, _, err := b.ctx().FindObjects(b.session, 64)
		if err != nil {
			b.ctx().FindObjectsFinal(b.session)
			return nil, fmt.Errorf("%s: find objects: %w", b.device, err)
		}
		if len(hs) == 0 {
			break
		}
		all = append(all, hs...)
	}
	if err := b.ctx().FindObjectsFinal(b.session); err != nil {
		return nil, fmt.Errorf("%s: find objects: %w", b.device, err)
	}
	return all, nil
}

// selTemplate matches objects by the label and/or id a URI gives.
func selTemplate(sel keySelector) []*p11.Attribute {
	var t []*p11.Attribute
	if sel.label != "" {
		t = append(t, p11.NewAttribute(p11.CKA_LABEL, sel.label))
	}
	if len(sel.id) > 0 {
		t = append(t, p11.NewAttribute(p11.CKA_ID, sel.id))
	}
	return t
}

// classTemplate matches objects of one class by label and/or id.
func classTemplate(class uint, sel keySelector) []*p11.Attribute {
	return append([]*p11.Attribute{p11.NewAttribute(p11.CKA_CLASS, class)}, selTemplate(sel)...)
}

// attrs reads attributes of an object; values come back in the order asked.
// An attribute the object lacks makes the whole call fail, as PKCS#11 does.
func (b *Backend) attrs(h p11.ObjectHandle, types ...uint) ([][]byte, error) {
	q := make([]*p11.Attribute, len(types))
	for i, t := range types {
		q[i] = p11.NewAttribute(t, nil)
	}
	got, err := b.ctx().GetAttributeValue(b.session, h, q)
	if err != nil {
		return nil, fmt.Errorf("%s: read object attributes: %w", b.device, err)
	}
	out := make([][]byte, len(types))
	for i := range got {
		out[i] = got[i].Value
	}
	return out, nil
}

// labelIndexLocked lists the token's objects once and counts them by
// label. Every object this session can see is listed (after login, the
// private ones too), whatever its class: a certificate or data object
// labelled "root" makes a second "root" ambiguous as much as a key does.
// The index lives as long as the backend (one batch: the devices are
// opened once per command); objects this backend creates are added to
// it, and destroying any drops it.
func (b *Backend) labelIndexLocked() (map[string]int, error) {
	if b.labels != nil {
		return b.labels, nil
	}
	hs, err := b.findLocked(nil)
	if err != nil {
		return nil, err
	}
	labels := make(map[string]int, len(hs))
	for _, h := range hs {
		v, err := b.attrs(h, p11.CKA_LABEL)
		if err != nil {
			// An object without a label cannot collide with one.
			if errors.Is(err, p11.Error(p11.CKR_ATTRIBUTE_TYPE_INVALID)) {
				continue
			}
			return nil, err
		}
		labels[string(v[0])]++
	}
	b.labels = labels
	return labels, nil
}
