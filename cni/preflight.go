package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/types/create"

	"github.com/ovn-dpu/ovn-dpu/pkg/netconf"
)

// forwarded are the CNI_* variables the plugin sends the host agent; gRPC
// strings must be UTF-8.
var forwarded = []string{"CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH"}

// preflight checks, before skel reads anything, what skel would check
// with vaguer messages ("interface name is too long"), would not check
// at all, or would let cost unbounded memory:
//
//   - stdin is read up to netconf.MaxConfigBytes (and one byte more, to
//     tell a larger one, which is refused), so a runaway writer costs at
//     most that much;
//   - the configuration's envelope (netconf.CheckEnvelope): a JSON object,
//     name, cniVersion;
//   - the CNI_* variables, naming the variable and its value: forwarded
//     ones must be UTF-8; ADD and CHECK refuse a bad CNI_IFNAME,
//     CNI_CONTAINERID or a relative CNI_NETNS, and ADD bad CNI_ARGS
//     (netconf.ParseArgs). DEL, GC and STATUS must not be wedged by what
//     they do not use: they refuse only what skel would refuse anyway, and
//     forward non-UTF-8 bytes replaced by U+FFFD.
//
// It returns the stdin skel is to read (nil: leave os.Stdin), and does nothing
// for VERSION, an unknown command or none, which skel answers alone.
func (p *plugin) preflight(getenv func(string) string, setenv func(string, string) error, stdin io.Reader) (*os.File, *types.Error) {
	command := getenv("CNI_COMMAND")
	switch command {
	case "ADD", "CHECK", "DEL", "GC", "STATUS":
	default:
		return nil, nil
	}
	data, err := io.ReadAll(io.LimitReader(stdin, netconf.MaxConfigBytes+1))
	if err != nil {
		return nil, types.NewError(types.ErrIOFailure, "reading the network configuration from stdin: "+err.Error(), "")
	}
	// The error object carries the configuration's cniVersion, if it is
	// one a runtime can read ours in.
	if len(data) <= netconf.MaxConfigBytes {
		if v, err := create.DecodeVersion(data); err == nil && slices.Contains(netconf.SupportedVersions, v) {
			p.cniVersion = v
		}
	}
	if err := checkEnv(command, getenv, setenv); err != nil {
		return nil, err
	}
	if err := asCNIError(netconf.CheckEnvelope(data)); err != nil {
		return nil, err
	}
	return newStdin(data)
}

// checkEnv checks the CNI_* variables command uses (see preflight).
func checkEnv(command string, getenv func(string) string, setenv func(string, string) error) *types.Error {
	attach := command == "ADD" || command == "CHECK"
	for _, name := range forwarded {
		v := getenv(name)
		err := netconf.CheckUTF8(name, v)
		switch {
		case err == nil:
		case attach:
			return asCNIError(err)
		default:
			if err := setenv(name, strings.ToValidUTF8(v, "\uFFFD")); err != nil {
				return types.NewError(types.ErrInternal, "replacing the bytes of "+name+" that are not UTF-8", err.Error())
			}
		}
	}
	if command == "GC" || command == "STATUS" {
		return nil // these take no attachment
	}
	if id := getenv("CNI_CONTAINERID"); id != "" {
		if err := netconf.CheckContainerID(id); err != nil {
			return asCNIError(err)
		}
	}
	if ifname := getenv("CNI_IFNAME"); ifname != "" {
		if err := netconf.CheckIfName(ifname); err != nil {
			return asCNIError(err)
		}
	}
	if !attach {
		return nil
	}
	if path := getenv("CNI_NETNS"); path != "" {
		if err := netconf.CheckNetnsPath(path); err != nil {
			return asCNIError(err)
		}
	}
	if command == "ADD" {
		if _, err := netconf.ParseArgs(getenv("CNI_ARGS")); err != nil {
			return asCNIError(err)
		}
	}
	return nil
}

// newStdin hands data to skel, which reads os.Stdin itself, through a
// pipe.
func newStdin(data []byte) (*os.File, *types.Error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, types.NewError(types.ErrInternal, "passing the network configuration on", err.Error())
	}
	go func() {
		_, _ = w.Write(data)
		_ = w.Close()
	}()
	return r, nil
}

// asCNIError keeps a netconf error's code; nil stays nil.
func asCNIError(err error) *types.Error {
	if err == nil {
		return nil
	}
	if e, ok := err.(*types.Error); ok {
		return e
	}
	return types.NewError(types.ErrInternal, fmt.Sprint(err), "")
}
