// Lint with type information: floating promises and unsafe anys are errors, not style.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "dist/",
      "build/",
      "node_modules/",
      "coverage/",
      "examples/",
      "**/*.js",
      "**/*.mjs",
      "**/*.cjs",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    // Size caps for product code (the rules pepr caps), measured against this tree: each sits above its
    // 99th percentile, so only the outliers need a reasoned `eslint-disable-next-line`.
    rules: {
      complexity: ["error", 20],
      "max-depth": ["error", 4],
      "max-params": ["error", 6],
      "max-lines-per-function": ["error", { max: 100, skipBlankLines: true, skipComments: true }],
      "max-nested-callbacks": ["error", 3],
    },
  },
  {
    // Test and dev code: describe → it → callbacks nest deeper and suites are long by nature.
    files: ["**/*.test.ts", "e2e/**/*.ts", "bench/**/*.ts", "testing/**/*.ts", "**/testdata/**/*.ts"],
    rules: {
      complexity: ["error", 25],
      "max-depth": ["error", 5],
      "max-params": ["error", 7],
      "max-lines-per-function": "off",
      "max-nested-callbacks": ["error", 5],
    },
  },
  {
    files: ["**/*.test.ts", "e2e/**/*.ts", "bench/**/*.ts"],
    rules: {
      "@typescript-eslint/no-non-null-assertion": "off",
      "@typescript-eslint/unbound-method": "off",
      // expect.stringMatching() and friends are typed any.
      "@typescript-eslint/no-unsafe-assignment": "off",
    },
  },
);
