// Package safetensors reads and writes the safetensors tensor file format
// (https://github.com/huggingface/safetensors) for the trainer's checkpoints.
//
// A file is an 8-byte little-endian header length n, n bytes of JSON header
// mapping tensor names to {dtype, shape, data_offsets} (plus an optional
// "__metadata__" object of string pairs), then the data section that the
// offsets index into.
//
// What it is for: loading Hugging Face weights (F32, BF16, F16) into the
// trainer as []float32, and writing the trainer's []float32 tensors back as
// F32 or BF16 (or F16) in a form transformers loads. Conversion to bf16 and
// f16 rounds to nearest, ties to even, as torch does.
//
// What it is not for: sharded checkpoints and config.json (package
// trainer/hf builds those on top of this one), or integer tensors beyond
// validating and copying their bytes.
//
// How the parts fit:
//   - header.go: ParseHeader validates a header against the data section's
//     size: length bounds, well-formed JSON without duplicate names, known
//     dtypes, shapes whose byte size neither overflows nor disagrees with the
//     offsets, and offsets that tile the data section exactly (in range, no
//     overlap, no gap). It never allocates from a size it has not checked.
//   - file.go: Open reads only the header; tensors are read lazily with
//     ReadAt when asked for, converted to float32 on the way.
//   - write.go: Write/WriteFile stream tensors out, converting per chunk.
//   - convert.go: the scalar conversions between float32, bf16 and f16.
package safetensors
