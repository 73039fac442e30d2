import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/**", "bin/**", "components/dist/**", ".ci/**", "components/nix/docker/layer-planner.js", "components/nix/progress-filter.js", "test/.tmp-*/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      "no-restricted-syntax": [
        "error",
        { selector: "LogicalExpression[operator='||'][right.type=/Literal|ArrayExpression|ObjectExpression/]", message: "use ?? for defaults" },
      ],
      eqeqeq: ["error", "always"],
    },
  },
);
