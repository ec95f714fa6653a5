// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["gen/**", "dist/**", "node_modules/**", "bench/results/**", ".tmp/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-control-regex": "off",
    },
  },
  {
    // The page shows what probed servers send: as text only (web/dom.ts), never as markup.
    files: ["web/**/*.ts"],
    rules: {
      "no-restricted-properties": [
        "error",
        ...["innerHTML", "outerHTML"].map((property) => ({ property, message: "text only: build elements with web/dom.ts" })),
        ...["insertAdjacentHTML", "write", "writeln", "createContextualFragment"].map((property) => ({ property, message: "text only: build elements with web/dom.ts" })),
      ],
      "no-restricted-globals": ["error", { name: "eval", message: "no eval" }],
    },
  },
  {
    // Plain JavaScript run by node as it is: the launcher, the build script, the module-load observer.
    files: ["bin/**/*.js", "scripts/**/*.js", "**/*.mjs", "*.js"],
    languageOptions: { globals: { process: "readonly", console: "readonly", URL: "readonly" } },
  },
);
