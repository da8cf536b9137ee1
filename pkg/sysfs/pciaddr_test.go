package sysfs_test

import (
	"errors"
	"testing"

	"github.com/ovn-dpu/ovn-dpu/pkg/sysfs"
)

func TestNormalizePCIAddress(t *testing.T) {
	tests := []struct {
		in, want string // want "" means ErrInvalidAddress
	}{
		{"0000:03:00.2", "0000:03:00.2"},
		{"03:00.2", "0000:03:00.2"},
		{"0000:AF:1F.7", "0000:af:1f.7"},
		{"10000:00:02.0", "10000:00:02.0"}, // Intel VMD domain
		{"0001:00:00.0", "0001:00:00.0"},
		{"", ""},
		{"0000:03:00", ""},
		{"0000:03:00.", ""},
		{"0000:03:00.2 ", ""},
		{" 0000:03:00.2", ""},
		{"0000:03:00.8", ""},
		{"0000:03:20.0", ""},
		{"0000:3:00.2", ""},
		{"0000:003:00.2", ""},
		{"000:03:00.2", ""},
		{"000000000:03:00.2", ""},
		{"0000:03:0.2", ""},
		{"0000:03:00.02", ""},
		{"0000:0g:00.2", ""},
		{"0000:+3:00.2", ""},
		{"0x00:03:00.2", ""},
		{"pci:0000:03:00.2", ""},
		{"0000:03:00.2/..", ""},
		{"../0000:03:00.2", ""},
	}
	for _, tt := range tests {
		got, err := sysfs.NormalizePCIAddress(tt.in)
		switch {
		case tt.want == "" && !errors.Is(err, sysfs.ErrInvalidAddress):
			t.Errorf("NormalizePCIAddress(%q) = %q, %v; want ErrInvalidAddress", tt.in, got, err)
		case tt.want != "" && (err != nil || got != tt.want):
			t.Errorf("NormalizePCIAddress(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
