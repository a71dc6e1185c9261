"""rn.py — a ctypes binding of trainer/native/resyn_native.h for the GPU scripts.

Loads any library that exports the rn_* ABI (build/libresyn_cuda.so, or the C
reference as build/libresyn_cpu.so from `make cpu-so`) and wraps one model:

    lib = rn.Lib("build/libresyn_cuda.so")
    m = lib.create(rn.config(vocab_size=..., ...))
    m.write("model.embed_tokens.weight", array)      # by Hugging Face name
    lp, ent = m.forward(tokens, targets, mask)       # (B, T) numpy arrays
    m.backward(dlp); norm = m.step(lr=1e-4)
    toks, lens, lps = m.generate(prompts, max_new_tokens=64, temperature=0)
"""
import ctypes as C

import numpy as np

RN_WEIGHTS, RN_GRADS, RN_ADAM_M, RN_ADAM_V = 0, 1, 2, 3
P_I32 = C.POINTER(C.c_int32)
P_F32 = C.POINTER(C.c_float)


class Config(C.Structure):
    _fields_ = [("vocab_size", C.c_int), ("hidden_size", C.c_int), ("intermediate_size", C.c_int),
                ("n_layers", C.c_int), ("n_heads", C.c_int), ("n_kv_heads", C.c_int), ("max_seq_len", C.c_int),
                ("tie_word_embeddings", C.c_int), ("n_threads", C.c_int), ("rope_theta", C.c_float),
                ("rms_norm_eps", C.c_float)]


class TensorInfo(C.Structure):
    _fields_ = [("name", C.c_char_p), ("ndim", C.c_int), ("shape", C.c_int64 * 2), ("numel", C.c_int64)]


class Batch(C.Structure):
    _fields_ = [("B", C.c_int), ("T", C.c_int), ("tokens", P_I32), ("targets", P_I32), ("mask", P_F32)]


class AdamW(C.Structure):
    _fields_ = [("lr", C.c_float), ("beta1", C.c_float), ("beta2", C.c_float), ("eps", C.c_float),
                ("weight_decay", C.c_float), ("max_grad_norm", C.c_float)]


class GenParams(C.Structure):
    _fields_ = [("B", C.c_int), ("prompts", P_I32), ("prompt_lens", P_I32), ("max_new_tokens", C.c_int),
                ("temperature", C.c_float), ("top_p", C.c_float), ("stop_tokens", P_I32), ("n_stop", C.c_int),
                ("seed", C.c_uint64), ("no_cache", C.c_int)]


def config(vocab_size, hidden_size, intermediate_size, n_layers, n_heads, n_kv_heads, max_seq_len,
           tie_word_embeddings=True, rope_theta=1e6, rms_norm_eps=1e-6, n_threads=0):
    return Config(vocab_size, hidden_size, intermediate_size, n_layers, n_heads, n_kv_heads, max_seq_len,
                  int(tie_word_embeddings), n_threads, rope_theta, rms_norm_eps)


def config_from_hf(hf, max_seq_len):
    return config(hf.vocab_size, hf.hidden_size, hf.intermediate_size, hf.num_hidden_layers,
                  hf.num_attention_heads, hf.num_key_value_heads, max_seq_len,
                  bool(getattr(hf, "tie_word_embeddings", False)), float(getattr(hf, "rope_theta", 1e4)),
                  float(hf.rms_norm_eps))


def _i32(a):
    return np.ascontiguousarray(a, dtype=np.int32)


def _f32(a):
    return np.ascontiguousarray(a, dtype=np.float32)


def _p(a, t):
    return a.ctypes.data_as(t)


class Lib:
    def __init__(self, path):
        self.path = path
        L = C.CDLL(path)
        self.L = L
        L.rn_model_create.argtypes = [C.POINTER(Config), C.POINTER(C.c_void_p)]
        L.rn_model_free.argtypes = [C.c_void_p]
        L.rn_model_error.argtypes = [C.c_void_p]
        L.rn_model_error.restype = C.c_char_p
        L.rn_num_tensors.argtypes = [C.c_void_p]
        L.rn_tensor_info_at.argtypes = [C.c_void_p, C.c_int, C.POINTER(TensorInfo)]
        L.rn_tensor_index.argtypes = [C.c_void_p, C.c_char_p]
        L.rn_tensor_read.argtypes = [C.c_void_p, C.c_int, C.c_int, P_F32]
        L.rn_tensor_write.argtypes = [C.c_void_p, C.c_int, C.c_int, P_F32]
        L.rn_init_weights.argtypes = [C.c_void_p, C.c_uint64, C.c_float]
        L.rn_forward.argtypes = [C.c_void_p, C.POINTER(Batch), P_F32, P_F32]
        L.rn_backward.argtypes = [C.c_void_p, P_F32]
        L.rn_zero_grad.argtypes = [C.c_void_p]
        L.rn_step.argtypes = [C.c_void_p, C.POINTER(AdamW), P_F32]
        L.rn_generate.argtypes = [C.c_void_p, C.POINTER(GenParams), P_I32, P_I32, P_F32]

    def create(self, cfg):
        h = C.c_void_p()
        rc = self.L.rn_model_create(C.byref(cfg), C.byref(h))
        if rc != 0:
            raise RuntimeError(f"{self.path}: rn_model_create returned {rc}")
        return Model(self, h, cfg)


class Model:
    def __init__(self, lib, h, cfg):
        self.lib, self.L, self.h, self.cfg = lib, lib.L, h, cfg
        self.tensors = []
        for i in range(self.L.rn_num_tensors(h)):
            ti = TensorInfo()
            self.L.rn_tensor_info_at(h, i, C.byref(ti))
            shape = (ti.shape[0], ti.shape[1]) if ti.ndim == 2 else (ti.shape[0],)
            self.tensors.append((ti.name.decode(), shape))
        self.index = {n: i for i, (n, _) in enumerate(self.tensors)}

    def _ok(self, rc, what):
        if rc != 0:
            raise RuntimeError(f"{self.lib.path}: {what} returned {rc}: {self.L.rn_model_error(self.h).decode()}")

    def free(self):
        if self.h:
            self.L.rn_model_free(self.h)
            self.h = None

    def n_params(self):
        return sum(int(np.prod(s)) for _, s in self.tensors)

    def write(self, name, arr, which=RN_WEIGHTS):
        i = self.index[name]
        a = _f32(arr).reshape(self.tensors[i][1])
        self._ok(self.L.rn_tensor_write(self.h, which, i, _p(a, P_F32)), f"write {name}")

    def read(self, name, which=RN_WEIGHTS):
        i = self.index[name]
        a = np.empty(self.tensors[i][1], dtype=np.float32)
        self._ok(self.L.rn_tensor_read(self.h, which, i, _p(a, P_F32)), f"read {name}")
        return a

    def init(self, seed=1, std=0.02):
        self._ok(self.L.rn_init_weights(self.h, seed, std), "init")

    def forward(self, tokens, targets, mask=None, entropy=True):
        tokens, targets = _i32(tokens), _i32(targets)
        B, T = tokens.shape
        m = _f32(mask) if mask is not None else None
        bt = Batch(B, T, _p(tokens, P_I32), _p(targets, P_I32), _p(m, P_F32) if m is not None else None)
        lp = np.empty((B, T), dtype=np.float32)
        ent = np.empty((B, T), dtype=np.float32) if entropy else None
        self._ok(self.L.rn_forward(self.h, C.byref(bt), _p(lp, P_F32), _p(ent, P_F32) if entropy else None),
                 "forward")
        return lp, ent

    def backward(self, dlp):
        d = _f32(dlp)
        self._ok(self.L.rn_backward(self.h, _p(d, P_F32)), "backward")

    def zero_grad(self):
        self._ok(self.L.rn_zero_grad(self.h), "zero_grad")

    def step(self, lr=1e-4, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1, max_grad_norm=1.0):
        o = AdamW(lr, beta1, beta2, eps, weight_decay, max_grad_norm)
        n = C.c_float()
        self._ok(self.L.rn_step(self.h, C.byref(o), C.byref(n)), "step")
        return n.value

    def generate(self, prompts, max_new_tokens, temperature=0.0, top_p=1.0, stop=(), seed=0, no_cache=False):
        lens = _i32([len(p) for p in prompts])
        flat = _i32(np.concatenate([np.asarray(p, dtype=np.int32) for p in prompts]))
        st = _i32(list(stop) if stop else [0])
        B = len(prompts)
        gp = GenParams(B, _p(flat, P_I32), _p(lens, P_I32), max_new_tokens, temperature, top_p,
                       _p(st, P_I32) if stop else None, len(stop), seed, int(no_cache))
        toks = np.zeros((B, max_new_tokens), dtype=np.int32)
        olen = np.zeros(B, dtype=np.int32)
        lps = np.zeros((B, max_new_tokens), dtype=np.float32)
        self._ok(self.L.rn_generate(self.h, C.byref(gp), _p(toks, P_I32), _p(olen, P_I32), _p(lps, P_F32)),
                 "generate")
        return toks, olen, lps
