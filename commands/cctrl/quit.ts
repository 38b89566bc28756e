import { defineCommand } from '../../src/shell/command.js';

export default defineCommand({
  name: 'quit',
  aliases: ['exit'],
  usage: 'quit',
  summary: 'leave the shell',
  async run() {
    return { kind: 'quit' };
  },
});
