# resyn — native builds beside `go build`.
#
#   make cuda     the CUDA backend: build/libresyn_cuda.so (nvcc, cuBLAS); the
#                 resyn binary loads it at run time (RESYN_CUDA_LIB, or beside
#                 the executable), so resyn itself builds without CUDA
#   make cpu-so   the C reference as build/libresyn_cpu.so, for the parity
#                 programs in scripts/gpu/
#   make parity   scripts/gpu/parity (C, dlopen()s both libraries)
#
# CUDA_ARCH defaults to Hopper (sm_90); e.g. make cuda CUDA_ARCH="-arch=sm_80".

NVCC ?= nvcc
CC ?= cc
CUDA_ARCH ?= -gencode=arch=compute_90,code=sm_90
BUILD ?= build
NVCCFLAGS ?= -O3 -std=c++17 -lineinfo

CUDA_DIR := trainer/native/cuda
CUDA_SRC := $(wildcard $(CUDA_DIR)/*.cu)
CUDA_OBJ := $(patsubst $(CUDA_DIR)/%.cu,$(BUILD)/cuda/%.o,$(CUDA_SRC))
CUDA_HDR := $(CUDA_DIR)/common.cuh trainer/native/resyn_native.h trainer/native/model_host.h
CPU_SRC := $(wildcard trainer/native/cpu_*.c)

.PHONY: cuda cpu-so parity clean-native

cuda: $(BUILD)/libresyn_cuda.so

$(BUILD)/cuda/%.o: $(CUDA_DIR)/%.cu $(CUDA_HDR)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) $(CUDA_ARCH) -Xcompiler -fPIC -Xptxas -warn-spills -c $< -o $@

$(BUILD)/libresyn_cuda.so: $(CUDA_OBJ)
	$(NVCC) $(CUDA_ARCH) -shared -o $@ $^ -lcublas

cpu-so: $(BUILD)/libresyn_cpu.so

$(BUILD)/libresyn_cpu.so: $(CPU_SRC) trainer/native/cpu_internal.h trainer/native/cpu_matmul_kern.h trainer/native/resyn_native.h trainer/native/model_host.h
	@mkdir -p $(BUILD)
	$(CC) -O3 -std=gnu11 -Wno-psabi -fopenmp -fPIC -shared -o $@ $(CPU_SRC) -lm

parity: $(BUILD)/parity

$(BUILD)/parity: scripts/gpu/parity.c trainer/native/resyn_native.h
	@mkdir -p $(BUILD)
	$(CC) -O2 -std=gnu11 -o $@ $< -ldl -lm

clean-native:
	rm -rf $(BUILD)/cuda $(BUILD)/libresyn_cuda.so $(BUILD)/libresyn_cpu.so $(BUILD)/parity
