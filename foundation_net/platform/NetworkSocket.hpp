// What the transfer engine does to a network socket itself, besides what curl does.
#pragma once

namespace foundation::platform {

// Shuts a connected socket down both ways when bytes are already waiting to be read on it,
// so that whoever owns it finds it closed; true when it did. The descriptor stays open.
bool shutDownIfReadable(int socket);

}  // namespace foundation::platform
