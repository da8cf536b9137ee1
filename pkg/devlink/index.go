package devlink

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
)

// Representor is the answer to a lookup: the netdev to plug, and the devlink
// identity it was matched by, for logs and status messages.
type Representor struct {
	Netdev string
	// Handle is the port's devlink handle, "pci/0000:03:00.0/196609".
	Handle string
	Device string
	// Flavour is PCIVF, PCISF or PCIPF: which function it stands for.
	Flavour    Flavour
	Controller uint32
	PFNum      uint16
	VFNum      uint16
	SFNum      uint32
	// PFMAC is the host PF MAC the representor was matched by.
	PFMAC net.HardwareAddr
}

func (r Representor) String() string {
	return fmt.Sprintf("%s at %s", r.Netdev, r.Handle)
}

// pfKey identifies a host PF in devlink: the same pfnum exists once per
// controller (host) and device.
type pfKey struct {
	device     string
	controller uint32
	pfnum      uint16
}

func (k pfKey) String() string {
	return fmt.Sprintf("%s controller %d pfnum %d", k.device, k.controller, k.pfnum)
}

func comparePFKeys(a, b pfKey) int {
	return cmp.Or(strings.Compare(a.device, b.device),
		cmp.Compare(a.controller, b.controller), cmp.Compare(a.pfnum, b.pfnum))
}

// uplinkKey finds a physical port by the device and port number a PF
// shares with it.
type uplinkKey struct {
	device string
	port   uint32
}

type vfEntry struct {
	rep Representor
	// others claim the same (PF MAC, VF) — kept so the error can name them.
	others []Representor
}

type pfEntry struct {
	mac net.HardwareAddr
	// keys has more than one PF when several share a MAC.
	keys []pfKey
	vfs  map[uint16]*vfEntry
	sfs  map[uint32]*vfEntry
	// pf is the pcipf port's own representor; nil when it has no netdev.
	pf *vfEntry
}

// index is immutable once built; lookups read it without locking.
type index struct {
	byMAC map[string]*pfEntry // key: string(mac bytes)
	macs  []string            // sorted, printable
	// pfMACs is what the index was derived from besides the ports: when
	// neither changed, lookups answer the same and OnChange need not fire.
	pfMACs map[pfKey]string
	// unresolved lists PFs whose MAC could not be found, with the reason.
	unresolved []string
	// conflicts lists ambiguous (PF MAC, VF) pairs, for the log.
	conflicts []string
	nports    int
}

// portGroups is the dump sorted into what matching needs.
type portGroups struct {
	uplinks map[uplinkKey]string
	pfs     map[pfKey]Port
	vfs     map[pfKey][]Port
	sfs     map[pfKey][]Port
}

func buildIndex(ports map[string]Port, sysfsRoot string) *index {
	g := groupPorts(ports)
	idx := &index{
		byMAC:  make(map[string]*pfEntry),
		pfMACs: make(map[pfKey]string),
		nports: len(ports),
	}
	for _, key := range g.keys() {
		mac, err := g.pfMAC(key, sysfsRoot)
		if err != nil {
			idx.unresolved = append(idx.unresolved, fmt.Sprintf("%s: %v", key, err))
			continue
		}
		idx.addPF(key, mac, g)
	}
	idx.macs = slices.Sorted(maps.Keys(idx.printableMACs()))
	idx.conflicts = idx.findConflicts()
	return idx
}

// groupPorts visits ports in handle order so that "first one wins" is the
// same whatever order the dump or the notifications came in.
func groupPorts(ports map[string]Port) portGroups {
	g := portGroups{
		uplinks: make(map[uplinkKey]string),
		pfs:     make(map[pfKey]Port),
		vfs:     make(map[pfKey][]Port),
		sfs:     make(map[pfKey][]Port),
	}
	sorted := slices.AppendSeq(make([]Port, 0, len(ports)), maps.Values(ports))
	slices.SortFunc(sorted, comparePorts)
	for _, p := range sorted {
		g.add(p)
	}
	return g
}

func (g portGroups) add(p Port) {
	key := pfKey{p.Device, p.Controller, p.PFNum}
	switch p.Flavour {
	case Physical:
		uk := uplinkKey{p.Device, p.PortNumber}
		if _, dup := g.uplinks[uk]; !dup && p.Netdev != "" {
			g.uplinks[uk] = p.Netdev
		}
	case PCIPF:
		if _, dup := g.pfs[key]; !dup {
			g.pfs[key] = p
		}
	case PCIVF:
		if p.Netdev != "" { // nothing to plug
			g.vfs[key] = append(g.vfs[key], p)
		}
	case PCISF:
		if p.Netdev != "" {
			g.sfs[key] = append(g.sfs[key], p)
		}
	}
}

func (g portGroups) keys() []pfKey {
	set := make(map[pfKey]bool, len(g.pfs)+len(g.vfs))
	for k := range g.pfs {
		set[k] = true
	}
	for k := range g.vfs {
		set[k] = true
	}
	for k := range g.sfs {
		set[k] = true
	}
	return slices.SortedFunc(maps.Keys(set), comparePFKeys)
}

// pfMAC finds the host PF MAC for key: from the pcipf port, else from the
// uplink's smart_nic config (DPU firmware reporting zero), else — for
// local VFs with no pcipf port (host-side switchdev) — the uplink's MAC.
func (g portGroups) pfMAC(key pfKey, sysfsRoot string) (net.HardwareAddr, error) {
	uplink, hasUplink := g.uplinks[uplinkKey{key.device, uint32(key.pfnum)}]
	if pf, ok := g.pfs[key]; ok {
		if !isZeroMAC(pf.HWAddr) {
			return pf.HWAddr, nil
		}
		if !hasUplink {
			return nil, fmt.Errorf("pcipf port %s has no hw_addr and there is no physical port %d to read smart_nic/pf/config from", pf.Handle(), key.pfnum)
		}
		mac, err := smartNICMAC(sysfsRoot, uplink)
		if err != nil {
			return nil, fmt.Errorf("pcipf port %s has no hw_addr: %w", pf.Handle(), err)
		}
		return mac, nil
	}
	local := func(p Port) bool { return !p.External }
	if !slices.ContainsFunc(g.vfs[key], local) && !slices.ContainsFunc(g.sfs[key], local) {
		return nil, errors.New("external VFs or SFs but no pcipf port naming their PF")
	}
	if !hasUplink {
		return nil, fmt.Errorf("no pcipf port and no physical port %d whose MAC is the PF's", key.pfnum)
	}
	return netdevMAC(sysfsRoot, uplink)
}

func (idx *index) addPF(key pfKey, mac net.HardwareAddr, g portGroups) {
	idx.pfMACs[key] = mac.String()
	e := idx.byMAC[string(mac)]
	if e == nil {
		e = &pfEntry{mac: mac, vfs: make(map[uint16]*vfEntry), sfs: make(map[uint32]*vfEntry)}
		idx.byMAC[string(mac)] = e
	}
	e.keys = append(e.keys, key)
	if pf, ok := g.pfs[key]; ok && pf.Netdev != "" {
		addRep(&e.pf, e.representor(pf))
	}
	for _, vf := range g.vfs[key] {
		addFunction(e, e.vfs, vf.VFNum, vf)
	}
	for _, sf := range g.sfs[key] {
		addFunction(e, e.sfs, sf.SFNum, sf)
	}
}

func (e *pfEntry) representor(p Port) Representor {
	return Representor{
		Netdev:     p.Netdev,
		Handle:     p.Handle(),
		Device:     p.Device,
		Flavour:    p.Flavour,
		Controller: p.Controller,
		PFNum:      p.PFNum,
		VFNum:      p.VFNum,
		SFNum:      p.SFNum,
		PFMAC:      e.mac,
	}
}

// addFunction files port p as function num of m (VFs or SFs).
func addFunction[N comparable](e *pfEntry, m map[N]*vfEntry, num N, p Port) {
	cur := m[num]
	addRep(&cur, e.representor(p))
	m[num] = cur
}

// addRep makes rep the entry's representor, or — when another netdev
// already is — one more claimant of the same function.
func addRep(cur **vfEntry, rep Representor) {
	switch {
	case *cur == nil:
		*cur = &vfEntry{rep: rep}
	case (*cur).rep.Netdev != rep.Netdev:
		(*cur).others = append((*cur).others, rep)
	}
}

func (idx *index) printableMACs() map[string]bool {
	set := make(map[string]bool, len(idx.byMAC))
	for _, e := range idx.byMAC {
		set[e.mac.String()] = true
	}
	return set
}

func (idx *index) findConflicts() []string {
	var out []string
	for _, e := range idx.byMAC {
		for vfnum, vf := range e.vfs {
			if len(vf.others) > 0 {
				out = append(out, fmt.Sprintf("pf-mac %s vf-num %d: %s", e.mac, vfnum, vf.describe()))
			}
		}
		for sfnum, sf := range e.sfs {
			if len(sf.others) > 0 {
				out = append(out, fmt.Sprintf("pf-mac %s sf-num %d: %s", e.mac, sfnum, sf.describe()))
			}
		}
		if e.pf != nil && len(e.pf.others) > 0 {
			out = append(out, fmt.Sprintf("pf-mac %s (the PF itself): %s", e.mac, e.pf.describe()))
		}
	}
	slices.Sort(out)
	return out
}

func (idx *index) lookup(pfMAC net.HardwareAddr, fn Function) (Representor, error) {
	fail := func(err error, detail string) error {
		return &LookupError{PFMAC: pfMAC, VFNum: fn.vfNum(), Fn: fn, Err: err, detail: detail}
	}
	e := idx.byMAC[string(pfMAC)]
	if e == nil {
		return Representor{}, fail(ErrNoPF, knownPFsDetail(idx.macs, idx.unresolved))
	}
	var found *vfEntry
	notFound := ErrNoVF
	switch fn.Flavour {
	case PCIVF:
		if fn.Num <= 0xffff {
			found = e.vfs[uint16(fn.Num)]
		}
	case PCISF:
		found, notFound = e.sfs[fn.Num], ErrNoSF
	case PCIPF:
		found, notFound = e.pf, ErrNoPFPort
	default:
		return Representor{}, fail(fmt.Errorf("flavour %q is not a host function", fn.Flavour), e.describe())
	}
	if found == nil {
		return Representor{}, fail(notFound, e.describe())
	}
	rep := found.rep
	rep.PFMAC = slices.Clone(rep.PFMAC) // callers must not be able to corrupt the index
	if len(found.others) > 0 {
		return rep, fail(ErrAmbiguous, found.describe())
	}
	return rep, nil
}

func (e *pfEntry) describe() string {
	keys := make([]string, len(e.keys))
	for i, k := range e.keys {
		keys[i] = k.String()
	}
	vfs := slices.Collect(maps.Keys(e.vfs))
	d := fmt.Sprintf("PF %s is %s with vf-nums %s", e.mac, strings.Join(keys, " and "), numRanges(vfs))
	if len(e.sfs) > 0 {
		d += ", sf-nums " + numRanges(slices.Collect(maps.Keys(e.sfs)))
	}
	if e.pf == nil {
		d += ", no PF representor"
	}
	return d
}

func (vf *vfEntry) describe() string {
	names := []string{vf.rep.String()}
	for _, o := range vf.others {
		names = append(names, o.String())
	}
	return fmt.Sprintf("%s; using %s", strings.Join(names, " and "), vf.rep.Netdev)
}
