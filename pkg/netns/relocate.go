package netns

import "fmt"

// relocation moves a link between namespaces under a new name and alias.
type relocation struct {
	temp     place // private, empty but for lo: nothing to clash with
	src, dst place
	name     string // in src
	newName  string // in dst
	alias    string // set in temp, before the link is visible in dst
}

// relocate performs r as four undoable steps: into temp, rename, alias,
// into dst. The caller keeps temp open until t is committed or rolled
// back, since undoing the last step needs temp again.
func (t *txn) relocate(r relocation) error {
	if err := t.step(fmt.Sprintf("move %q from %s to temp netns", r.name, r.src.desc),
		func() error { return moveLink(r.src, r.name, r.temp) },
		func() error { return moveLink(r.temp, r.name, r.src) }); err != nil {
		return err
	}
	if err := t.rename(r.temp, r.name, r.newName); err != nil {
		return err
	}
	if err := t.setAlias(r.temp, r.newName, r.alias); err != nil {
		return err
	}
	return t.step(fmt.Sprintf("move %q to %s", r.newName, r.dst.desc),
		func() error { return moveLink(r.temp, r.newName, r.dst) },
		func() error { return moveLink(r.dst, r.newName, r.temp) })
}

func (t *txn) rename(p place, from, to string) error {
	if from == to {
		return nil
	}
	return t.step(fmt.Sprintf("rename %q to %q in %s", from, to, p.desc),
		func() error { return renameLink(p, from, to) },
		func() error { return renameLink(p, to, from) })
}

func (t *txn) setAlias(p place, name, alias string) error {
	st, err := readState(p, name)
	if err != nil {
		return fmt.Errorf("read %q in %s: %w", name, p.desc, err)
	}
	if st.alias == alias {
		return nil
	}
	return t.step(fmt.Sprintf("set alias of %q to %q in %s", name, alias, p.desc),
		func() error { return setAlias(p, name, alias) },
		func() error { return setAlias(p, name, st.alias) })
}
