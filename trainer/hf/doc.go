// Package hf loads and saves Hugging Face checkpoints of Qwen2-architecture
// models: a directory holding config.json and the weights as one
// model.safetensors or as shards model-0000i-of-0000n.safetensors listed in
// model.safetensors.index.json.
//
// What it is for: turning such a directory into a Config and a stream of
// named float32 tensors for the numeric core (trainer/native), and writing
// the core's tensors back so that transformers' Qwen2ForCausalLM loads them.
// It also defines the logits-check file (LogitsCheck) that
// scripts/gpu/check_hf_checkpoint.py compares transformers against.
//
// What it is not for: the safetensors byte format itself (package
// trainer/safetensors), the tokenizer (trainer/tokenizer), or the numerics.
//
// How the parts fit:
//   - config.go: Config, the Qwen2 config.json fields in the spellings of
//     transformers 4.x and 5.x both (rope_theta / rope_parameters,
//     torch_dtype / dtype, eos_token_id int or list), with unknown fields
//     kept so a loaded config saves back unchanged; Validate, with every
//     size bounded and every refusal a *FieldError naming the field; the
//     derived sizes (HeadDim).
//   - generation.go: generation_config.json (its eos_token_id list joins
//     the stop tokens), read by ReadConfig and written back by Save.
//   - names.go: Qwen2Tensors, the tensor names and shapes a config implies
//     (model.embed_tokens.weight, model.layers.{i}.self_attn.q_proj.weight,
//     …, lm_head.weight when untied).
//   - checkpoint.go: Open a directory (single file or sharded), check the
//     config's sizes against the tensor shapes in the headers before
//     anything is allocated, iterate and read tensors as float32,
//     CheckQwen2 against the expected names/shapes.
//   - save.go: Save a Config and tensors as F32 or BF16, sharded when they
//     exceed a size, with the index file, atomically per file.
//   - logits.go: the JSON of token ids and expected log-probs/logits.
package hf
