package native

/*
#include <stdlib.h>
#include "rn_api.h"
*/
import "C"

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"unsafe"
)

// Backend names.
const (
	BackendCPU  = "cpu"
	BackendCUDA = "cuda"
)

// CUDALibEnv names the environment variable that points at the CUDA
// backend's shared library; without it the library is looked for beside
// the executable as CUDALibName.
const (
	CUDALibEnv  = "RESYN_CUDA_LIB"
	CUDALibName = "libresyn_cuda.so"
)

// Backend is one implementation of resyn_native.h: the C reference linked
// into the binary, or a shared library loaded at run time. A loaded library
// stays loaded for the life of the process; backends are shared and safe
// for concurrent use (the models they create are not).
type Backend struct {
	name string
	path string // "" for the built-in CPU backend
	api  *C.rn_api
}

// Name is "cpu" or "cuda".
func (b *Backend) Name() string { return b.name }

// Path is the shared library the backend was loaded from ("" for cpu).
func (b *Backend) Path() string { return b.path }

// BackendInfo says whether a backend can be used here, for resyn doctor.
type BackendInfo struct {
	Name      string `json:"name"`
	Path      string `json:"path,omitempty"` // the library, for a loaded backend
	Available bool   `json:"available"`
	Err       string `json:"error,omitempty"` // why it is not available
}

var cpuBackend = &Backend{name: BackendCPU, api: &C.rn_cpu_api}

var (
	libMu sync.Mutex
	libs  = map[string]*Backend{} // by absolute path
)

// CPU is the C reference backend, always available.
func CPU() *Backend { return cpuBackend }

// OpenBackend returns the named backend: "" or "cpu" for the built-in C
// reference; "cuda" for the shared library named by $RESYN_CUDA_LIB, or
// libresyn_cuda.so beside the executable. The error wraps ErrBackend and
// names the path tried and, for a library that loads but is incomplete, the
// missing symbol.
func OpenBackend(name string) (*Backend, error) {
	switch name {
	case "", BackendCPU:
		return cpuBackend, nil
	case BackendCUDA:
		path, err := CUDALibPath()
		if err != nil {
			return nil, err
		}
		return OpenLibrary(BackendCUDA, path)
	}
	return nil, fmt.Errorf("%w: unknown backend %q (want cpu or cuda)", ErrBackend, name)
}

// CUDALibPath is where OpenBackend("cuda") loads the library from:
// $RESYN_CUDA_LIB when set, else libresyn_cuda.so in the executable's
// directory. It fails only when neither can be determined, not when the
// file is missing.
func CUDALibPath() (string, error) {
	if p := os.Getenv(CUDALibEnv); p != "" {
		return p, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("%w: cuda backend: %s is unset and the executable's directory is unknown: %v",
			ErrBackend, CUDALibEnv, err)
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	return filepath.Join(filepath.Dir(exe), CUDALibName), nil
}

// OpenLibrary loads a shared library that exports every rn_* symbol of
// resyn_native.h as backend name (dlopen with RTLD_NOW|RTLD_LOCAL). The
// same path is loaded once per process.
func OpenLibrary(name, path string) (*Backend, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s backend: %v", ErrBackend, name, err)
	}
	libMu.Lock()
	defer libMu.Unlock()
	if b, ok := libs[abs]; ok {
		return b, nil
	}
	if _, err := os.Stat(abs); err != nil {
		hint := ""
		if name == BackendCUDA && os.Getenv(CUDALibEnv) == "" {
			hint = fmt.Sprintf(" (build it with `make cuda`, or set %s)", CUDALibEnv)
		}
		return nil, fmt.Errorf("%w: %s backend: no library at %s%s", ErrBackend, name, abs, hint)
	}
	cpath := C.CString(abs)
	defer C.free(unsafe.Pointer(cpath))
	api := (*C.rn_api)(C.malloc(C.size_t(unsafe.Sizeof(C.rn_api{})))) // lives as long as the process
	var handle unsafe.Pointer
	var msg [512]C.char
	if C.rn_api_open(cpath, api, &handle, &msg[0], C.size_t(len(msg))) != 0 {
		C.free(unsafe.Pointer(api))
		return nil, fmt.Errorf("%w: %s backend: %s", ErrBackend, name, C.GoString(&msg[0]))
	}
	b := &Backend{name: name, path: abs, api: api}
	libs[abs] = b
	return b, nil
}

// Backends lists the cpu backend (always available) and the cuda backend,
// available when its library loads; Err says why not.
func Backends() []BackendInfo {
	out := []BackendInfo{{Name: BackendCPU, Available: true}}
	cuda := BackendInfo{Name: BackendCUDA}
	if p, err := CUDALibPath(); err == nil {
		cuda.Path = p
	}
	if b, err := OpenBackend(BackendCUDA); err != nil {
		cuda.Err = err.Error()
	} else {
		cuda.Available, cuda.Path = true, b.path
	}
	return append(out, cuda)
}
