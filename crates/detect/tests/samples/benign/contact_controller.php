<?php
declare(strict_types=1);

namespace App\Controller;

final class ContactController
{
    public function __construct(private \PDO $db, private Mailer $mailer)
    {
    }

    public function submit(): string
    {
        if ($_SERVER['REQUEST_METHOD'] !== 'POST') {
            return $this->render('contact', []);
        }
        $name = trim($_POST['name'] ?? '');
        $email = filter_var($_POST['email'] ?? '', FILTER_VALIDATE_EMAIL);
        $message = trim($_POST['message'] ?? '');
        if ($name === '' || $email === false) {
            return $this->render('contact', ['error' => 'Please fill in every field.']);
        }
        $stmt = $this->db->prepare('INSERT INTO messages (name, email, body) VALUES (?, ?, ?)');
        $stmt->execute([$name, $email, $message]);
        $this->mailer->send('admin@example.org', 'New message from ' . $name, $message);
        return '<p>Thank you, ' . htmlspecialchars($name, ENT_QUOTES, 'UTF-8') . '!</p>';
    }

    private function render(string $view, array $vars): string
    {
        $sort = $_GET['sort'] ?? 'date';
        $allowed = ['date' => 'created_at', 'name' => 'name'];
        $column = $allowed[$sort] ?? 'created_at';
        ob_start();
        extract($vars);
        include __DIR__ . '/../views/' . basename($view) . '.php';
        return (string) ob_get_clean() . '<!-- ' . htmlspecialchars($column) . ' -->';
    }
}
