package sysfs

import (
	"fmt"
	"strconv"
	"strings"
)

// NormalizePCIAddress checks a PCI address and returns it the way sysfs
// names the device: "dddd:bb:dd.f", lower-case hex. The short form
// "bb:dd.f" gets domain 0000. Domains wider than four digits (Intel VMD
// uses 10000 and up) are kept, as the kernel prints them with %04x.
// It is exported so the host agent can reject a bad deviceID before doing
// any work.
func NormalizePCIAddress(addr string) (string, error) {
	dom, bus, dev, fn, ok := splitPCIAddress(strings.ToLower(addr))
	if !ok {
		return "", fmt.Errorf("%w %q: want domain:bus:device.function such as 0000:03:00.2", ErrInvalidAddress, addr)
	}
	d, errD := parseHex(dom, 4, 8)
	b, errB := parseHex(bus, 2, 2)
	s, errS := parseHex(dev, 2, 2)
	f, errF := parseHex(fn, 1, 1)
	if errD != nil || errB != nil || errS != nil || errF != nil || s > 0x1f || f > 7 {
		return "", fmt.Errorf("%w %q: want hex domain, 2-digit bus, device 00-1f and function 0-7", ErrInvalidAddress, addr)
	}
	return fmt.Sprintf("%04x:%02x:%02x.%x", d, b, s, f), nil
}

// splitPCIAddress cuts "[domain:]bus:dev.fn" into its four fields.
func splitPCIAddress(s string) (dom, bus, dev, fn string, ok bool) {
	dom = "0000"
	if strings.Count(s, ":") == 2 {
		dom, s, _ = strings.Cut(s, ":")
	}
	bus, devfn, ok1 := strings.Cut(s, ":")
	dev, fn, ok2 := strings.Cut(devfn, ".")
	return dom, bus, dev, fn, ok1 && ok2
}

// parseHex accepts only plain hex digits: strconv alone would also take a
// sign, a 0x prefix or underscores.
func parseHex(s string, minLen, maxLen int) (uint64, error) {
	if len(s) < minLen || len(s) > maxLen {
		return 0, fmt.Errorf("%q: want %d-%d hex digits", s, minLen, maxLen)
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return 0, fmt.Errorf("%q: not hex", s)
		}
	}
	return strconv.ParseUint(s, 16, 32)
}
