// End-to-end in headless Firefox ESR (Puppeteer over WebDriver BiDi): see lib/suite.mjs.
import { defineSuite } from "./lib/suite.mjs";

defineSuite("firefox");
