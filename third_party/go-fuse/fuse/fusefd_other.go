//go:build !linux

package fuse

// OSX and FreeBSD has races when multiple routines read
// from the FUSE device: on unmount, sometime some reads
// do not error-out, meaning that unmount will hang.
const useSingleReader = true

func (r *fuseFD) write(req *request) Status {
	if req.outPayloadSize() == 0 {
		req.dev.iov[0], req.dev.iov[1], req.dev.niov = req.outHeaderBuf, req.outDataBuf, 2
		return ToStatus(r.writeDev(&req.dev))
	}
	if req.readResult != nil {
		defer func() {
			req.readResult.Done()
			req.readResult = nil
		}()
		if ws, ok := req.readResult.(withSlice); ok {
			return r.writeWithSlice(req, ws)
		}

		req.outPayload, req.status = req.readResult.Bytes(req.outPayload)
		req.serializeHeader(len(req.outPayload))
	}

	req.dev.iov = [3][]byte{req.outHeaderBuf, req.outDataBuf, req.outPayload}
	req.dev.niov = 3
	return ToStatus(r.writeDev(&req.dev))
}
