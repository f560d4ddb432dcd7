package yubikey

// keyrite's own PC/SC connection, for the few commands piv-go has no call
// for (see raw.go). It links the same libpcsclite piv-go does.

// #cgo pkg-config: libpcsclite
// #include <stdlib.h>
// #include <PCSC/winscard.h>
// #include <PCSC/wintypes.h>
import "C"

import (
	"fmt"
	"unsafe"
)

// rawPCSC: keyrite's own PC/SC connection is built on this system.
const rawPCSC = true

// pcscConn is an exclusive connection to the card in one reader, inside a
// transaction, as piv-go's own.
type pcscConn struct {
	ctx C.SCARDCONTEXT
	h   C.SCARDHANDLE
}

func pcscErr(what string, rc C.LONG) error {
	if rc == C.SCARD_S_SUCCESS {
		return nil
	}
	return fmt.Errorf("%s: %s", what, C.GoString(C.pcsc_stringify_error(rc)))
}

func openPCSC(reader string) (rawTransport, error) {
	var c pcscConn
	if err := pcscErr("connect to the smart card service", C.SCardEstablishContext(C.SCARD_SCOPE_SYSTEM, nil, nil, &c.ctx)); err != nil {
		return nil, err
	}
	name := C.CString(reader)
	defer C.free(unsafe.Pointer(name))
	var proto C.DWORD
	if err := pcscErr("connect to "+reader, C.SCardConnect(c.ctx, name, C.SCARD_SHARE_EXCLUSIVE, C.SCARD_PROTOCOL_T1, &c.h, &proto)); err != nil {
		C.SCardReleaseContext(c.ctx)
		return nil, err
	}
	if err := pcscErr("begin a transaction", C.SCardBeginTransaction(c.h)); err != nil {
		C.SCardDisconnect(c.h, C.SCARD_LEAVE_CARD)
		C.SCardReleaseContext(c.ctx)
		return nil, err
	}
	return &c, nil
}

func (c *pcscConn) transmit(req []byte) ([]byte, error) {
	var resp [C.MAX_BUFFER_SIZE_EXTENDED]byte
	n := C.DWORD(len(resp))
	rc := C.SCardTransmit(c.h, C.SCARD_PCI_T1, (*C.BYTE)(unsafe.Pointer(&req[0])), C.DWORD(len(req)), nil,
		(*C.BYTE)(unsafe.Pointer(&resp[0])), &n)
	if err := pcscErr("transmit", rc); err != nil {
		return nil, err
	}
	return append([]byte(nil), resp[:n]...), nil
}

func (c *pcscConn) close() error {
	C.SCardEndTransaction(c.h, C.SCARD_LEAVE_CARD)
	err := pcscErr("disconnect", C.SCardDisconnect(c.h, C.SCARD_LEAVE_CARD))
	C.SCardReleaseContext(c.ctx)
	return err
}
