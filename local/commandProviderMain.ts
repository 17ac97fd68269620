/** Entry point of the stand-in `pulumi-resource-command` plugin (see commandProvider.ts, commandRun.ts and plugins/). */
import { main } from "@pulumi/pulumi/provider";
import { commandProvider } from "./commandProvider";
import { invokeRun } from "./commandRun";

main({ ...commandProvider, invoke: invokeRun }, process.argv.slice(2));
