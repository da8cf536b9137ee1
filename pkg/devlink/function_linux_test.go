package devlink

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestFunctionSetNumbersMatchUnix checks the numbers the function-set
// request uses against golang.org/x/sys/unix (generated from the uapi).
func TestFunctionSetNumbersMatchUnix(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"NLM_F_REQUEST", nlmFRequest, unix.NLM_F_REQUEST},
		{"NLM_F_ACK", nlmFAck, unix.NLM_F_ACK},
		{"NLA_F_NESTED", nlaFNested, unix.NLA_F_NESTED},
		{"DEVLINK_CMD_PORT_SET", devlinkCmdPortSet, unix.DEVLINK_CMD_PORT_SET},
		{"DEVLINK_ATTR_BUS_NAME", devlinkAttrBusName, unix.DEVLINK_ATTR_BUS_NAME},
		{"DEVLINK_ATTR_DEV_NAME", devlinkAttrDevName, unix.DEVLINK_ATTR_DEV_NAME},
		{"DEVLINK_ATTR_PORT_INDEX", devlinkAttrPortIndex, unix.DEVLINK_ATTR_PORT_INDEX},
		{"DEVLINK_ATTR_PORT_FUNCTION", devlinkAttrPortFunction, unix.DEVLINK_ATTR_PORT_FUNCTION},
		{"DEVLINK_PORT_FUNCTION_ATTR_HW_ADDR", devlinkPortFnAttrHWAddr, unix.DEVLINK_PORT_FUNCTION_ATTR_HW_ADDR},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, unix says %d", c.name, c.got, c.want)
		}
	}
}
