// End-to-end in headless Chromium (Playwright): see lib/suite.mjs.
import { defineSuite } from "./lib/suite.mjs";

defineSuite("chromium");
