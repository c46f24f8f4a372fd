// Served by the demo's shop server under /vite/ (same origin as its /ordersync relay path).
import { defineConfig } from "vite";

export default defineConfig({
  base: "/vite/",
  build: { outDir: "dist", emptyOutDir: true },
});
